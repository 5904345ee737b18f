"""The model zoo: architectures as published (shapes, param counts), and real learning."""

import numpy as np
import pytest

import numbanet as nn
from numbanet import data


@pytest.mark.parametrize(
    "build, image_size, params",
    [
        (nn.models.seed_cnn, 28, 93_322),  # torch's twin of the seed CNN has 93,322
        (nn.models.lenet5, 28, 61_706),  # LeNet-5's classic count
        (nn.models.lenet5, 32, 61_706),
        (nn.models.small_vgg, 28, None),
        (nn.models.small_vgg, 32, None),
    ],
)
def test_zoo_models_take_28_and_32_pixel_images(build, image_size, params):
    model = build(image_size=image_size)
    x = np.random.default_rng(0).standard_normal((2, 1, image_size, image_size))
    assert model(x).shape == (2, 10)
    if params is not None:
        assert model.num_params() == params


@pytest.mark.parametrize("build, layers", [(nn.models.seed_cnn, 8), (nn.models.lenet5, 8)])
def test_fused_zoo_models_compute_the_same_function(build, layers):
    nn.seed(0)
    plain = build().to(np.float64)
    nn.seed(0)
    fused = build(fuse=True).to(np.float64)
    assert len(fused) == layers and fused.num_params() == plain.num_params()
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    target = np.array([1, 5, 9])
    grads = []
    for model in (plain, fused):
        loss = nn.CrossEntropyLoss()
        loss(model(x), target)
        model.backward(loss.backward())
        grads.append(np.concatenate([g.ravel() for g in model.grad_dict().values()]))
    np.testing.assert_allclose(fused(x), plain(x), rtol=1e-12)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("image_size", [28, 32])
def test_small_resnet_has_residual_blocks_and_global_pooling(image_size):
    model = nn.models.small_resnet(in_channels=3, n_classes=7)
    x = np.random.default_rng(0).standard_normal((2, 3, image_size, image_size))
    assert model(x).shape == (2, 7)
    blocks = [layer for layer in model if isinstance(layer, nn.Residual)]
    assert len(blocks) == 3 and isinstance(model[-3], nn.AdaptiveAvgPool2d)
    assert blocks[0].shortcut.num_params() == 0 and blocks[1].shortcut.num_params() > 0


def test_small_resnet_gradients_match_finite_differences():
    nn.seed(0)
    model = nn.models.small_resnet(widths=(2, 3), n_classes=3)
    errors = nn.gradcheck(model, np.random.default_rng(1).standard_normal((3, 1, 8, 8)))
    assert max(errors.values()) < 1e-6, errors


def test_seed_cnn_learns_mnist_on_a_subset():
    """One epoch over 12,000 MNIST images, Adam 1e-3, batch 64: PyTorch's twin of this loop
    reaches 91.0% on these 2,000 test images (the full recipe, 2 epochs over 60,000, is
    benchmarks/mnist.py --model seed_cnn)."""
    train, test = data.mnist()
    nn.seed(0)
    model = nn.models.seed_cnn()
    nn.fit(
        model,
        nn.CrossEntropyLoss(),
        nn.optim.Adam(model, lr=1e-3),
        (train.x[:12000], train.y[:12000]),
        epochs=1,
        batch_size=64,
        seed=0,
        progress=False,
    )
    assert nn.evaluate(model, (test.x[:2000], test.y[:2000])).accuracy > 0.89


def test_warmup_has_a_training_step_for_every_zoo_model():
    """``numbanet warmup`` and ``benchmarks/startup.py`` cover the zoo: a model added to
    numbanet/models.py without a recipe in numbanet/warmup.py fails here (the building blocks
    that are not models are named)."""
    import inspect

    from numbanet import warmup

    blocks = {"then", "vgg_block", "basic_block"}
    zoo = {
        name
        for name, function in inspect.getmembers(nn.models, inspect.isfunction)
        if function.__module__ == nn.models.__name__ and name not in blocks
    }
    assert set(warmup.MODELS) == zoo
