"""The figures of generative models: image grids, inputs above reconstructions, 2-D codes by
class, a VAE's prior samples and latent walk, and a GAN's samples of fixed noise per epoch —
each drawn on tiny data, with the numbers behind it checked."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import numbanet as nn  # noqa: E402
from numbanet import data  # noqa: E402
from numbanet.data.plot import image_grid  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def image_axes(fig):
    """The axes of a figure that show an image."""
    return [ax for ax in fig.axes if ax.images]


def test_image_grid_tiles_row_by_row_and_leaves_the_last_row_blank():
    images = np.arange(1, 6, dtype=np.float32)[:, None, None, None] * np.ones((5, 1, 2, 3))
    grid = image_grid(images, ncols=3)
    assert grid.shape == (4, 9)
    assert grid[0, 0] == 1 and grid[1, 8] == 3 and grid[2, 3] == 5 and grid[3, 6] == 0
    np.testing.assert_array_equal(image_grid(images.reshape(5, 6)[:, :4], ncols=5)[:, 2:4], 2)
    with pytest.raises(ValueError, match="image_grid: cannot make square images of 6 pixels"):
        image_grid(images.reshape(5, 6))
    with pytest.raises(ValueError, match=r"image_grid: expected one-channel.*got shape \(5, 2, 2"):
        image_grid(np.zeros((5, 2, 2, 3)))


def test_plot_reconstructions_puts_inputs_above_their_reconstructions():
    x = RNG.random((5, 784)).astype(np.float32)
    fig = data.plot_reconstructions(x, 1 - x, n=4)
    axes = image_axes(fig)
    assert len(axes) == 8 and all(len(ax.images) == 1 for ax in axes)
    top, bottom = axes[0].images[0].get_array(), axes[4].images[0].get_array()
    np.testing.assert_allclose(top, x[0].reshape(28, 28))
    np.testing.assert_allclose(bottom, 1 - x[0].reshape(28, 28))
    with pytest.raises(ValueError, match=r"plot_reconstructions: expected reconstructions shaped"):
        data.plot_reconstructions(x, x[:3])


def test_plot_codes_scatters_every_code_coloured_by_its_class():
    codes, labels = RNG.standard_normal((30, 2)), np.arange(30) % 10
    fig = data.plot_codes(codes, labels)
    main = fig.axes[0]
    assert len(fig.axes) == 2  # the scatter and its colour bar
    points = main.collections[0]
    np.testing.assert_allclose(points.get_offsets(), codes)
    np.testing.assert_array_equal(points.get_array(), labels)
    with pytest.raises(ValueError, match=r"plot_codes: expected codes \(N, 2\).*\(30, 3\)"):
        data.plot_codes(RNG.standard_normal((30, 3)), labels)


def test_vae_encode_and_decode_are_the_eval_forward_split_at_reparameterize():
    nn.seed(3)
    vae = nn.models.vae(latent_dim=2, hidden=16)
    x = RNG.random((6, 784)).astype(np.float32)
    mu = data.vae_encode(vae, x)
    assert mu.shape == (6, 2) and vae.training  # the mode is restored
    vae.eval()
    logits = np.array(vae(x))  # in eval mode z = μ
    np.testing.assert_allclose(data.vae_decode(vae, mu), 1 / (1 + np.exp(-logits)), rtol=1e-5)
    with pytest.raises(ValueError, match="one Reparameterize layer.*got Sequential with 0"):
        data.vae_encode(nn.models.autoencoder(code=2), x)


def test_plot_prior_samples_and_latent_walk_draw_decoded_codes():
    nn.seed(4)
    vae = nn.models.vae(latent_dim=3, hidden=16)
    fig = data.plot_prior_samples(vae, n=12, ncols=4, seed=1)
    assert len(image_axes(fig)) == 1 and fig.axes[0].images[0].get_array().shape == (84, 112)
    z = np.random.default_rng(1).standard_normal((12, 3)).astype(np.float32)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array()[:28, 28:56],
                               data.vae_decode(vae, z)[1].reshape(28, 28), rtol=1e-6)  # fmt: skip

    x = RNG.random((2, 784)).astype(np.float32)
    fig = data.plot_latent_walk(vae, x[0], x[1], steps=5)
    axes = image_axes(fig)
    assert len(axes) == 5
    ends = data.vae_decode(vae, data.vae_encode(vae, x))
    np.testing.assert_allclose(axes[0].images[0].get_array(), ends[0].reshape(28, 28), rtol=1e-5)
    np.testing.assert_allclose(axes[-1].images[0].get_array(), ends[1].reshape(28, 28), rtol=1e-5)


def tiny_gan_run(epochs, **kwargs):
    nn.seed(5)
    generator, discriminator = nn.models.mnist_gan(latent_dim=8)
    images = np.tanh(RNG.standard_normal((16, 1, 28, 28))).astype(np.float32)
    history = nn.fit_gan(generator, discriminator,
                         nn.optim.Adam(generator, lr=2e-4, betas=(0.5, 0.999)),
                         nn.optim.Adam(discriminator, lr=2e-4, betas=(0.5, 0.999)),
                         images, epochs=epochs, batch_size=8, seed=0, progress=False,
                         **kwargs)  # fmt: skip
    return generator, history


def test_fit_gan_keeps_the_images_of_given_fixed_noise_after_every_epoch():
    noise = RNG.standard_normal((5, 8)).astype(np.float32)
    generator, history = tiny_gan_run(2, fixed_noise=noise)
    np.testing.assert_array_equal(history.fixed_noise, noise)
    assert len(history.samples) == 2 and history.samples[0].shape == (5, 1, 28, 28)
    # the last epoch's samples are the trained G's images of that noise, in eval mode
    np.testing.assert_array_equal(history.samples[-1], nn.predict(generator, noise))
    assert np.abs(history.samples[1] - history.samples[0]).max() > 0  # G moved between epochs

    fig = history.plot_samples(ncols=4)
    axes = image_axes(fig)
    assert len(axes) == 2 and axes[1].images[0].get_array().shape == (28, 112)
    np.testing.assert_array_equal(axes[1].images[0].get_array()[:, 28:56],
                                  history.samples[1][1, 0])  # fmt: skip


def test_fit_gan_fixed_noise_as_a_count_none_or_bad_input():
    _, history = tiny_gan_run(1, fixed_noise=3)
    assert history.fixed_noise.shape == (3, 8) and history.samples[0].shape == (3, 1, 28, 28)
    _, history = tiny_gan_run(1, fixed_noise=0)
    assert history.samples == []
    with pytest.raises(ValueError, match="GanHistory.plot_samples: no samples"):
        history.plot_samples()
    with pytest.raises(ValueError, match=r"fit_gan: fixed_noise must be .*\(K, 8\), got ndarray "
                                         r"of shape \(3, 4\)"):  # fmt: skip
        tiny_gan_run(1, fixed_noise=np.zeros((3, 4), np.float32))


def test_gan_history_plot_samples_spreads_max_epochs_from_first_to_last():
    history = nn.GanHistory(d_loss=[1.0] * 5, samples=[np.full((2, 4), e) for e in range(5)])
    axes = image_axes(history.plot_samples(ncols=2, max_epochs=3))
    assert [ax.images[0].get_array()[0, 0] for ax in axes] == [0, 2, 4]
    assert [ax.get_ylabel() for ax in axes] == ["epoch 1", "epoch 3", "epoch 5"]
