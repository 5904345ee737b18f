"""Ready-made models: the classic architectures, built from the layers."""

import math

from numbanet import rng
from numbanet.layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Embedding,
    Flatten,
    GRU,
    LastTimeStep,
    LeakyReLU,
    LayerNorm,
    Linear,
    LSTM,
    MaxPool2d,
    MultiheadAttention,
    PositionalEmbedding,
    ReLU,
    Reparameterize,
    Residual,
    RNN,
    Sequential,
    Tanh,
    Unflatten,
    TransformerEncoderLayer,
)


def then(layer, activation, fuse, *args, **kwargs):
    """[layer(*args, **kwargs), activation()], or with ``fuse`` one layer (Linear or Conv2d)
    that applies the activation as it writes its output (``Linear(..., activation="relu")``):
    the same numbers with fewer passes over memory, and one layer (one inspector event) fewer.
    """
    if fuse:
        return [layer(*args, **kwargs, activation=activation.kernel)]
    return [layer(*args, **kwargs), activation()]


def mlp(in_features=784, hidden=(128, 256), n_classes=10, activation=ReLU, fuse=False):
    """A multi-layer perceptron: Flatten, then Linear + activation per hidden width, then Linear
    to the classes. The defaults are the seed MLP 784-128-256-10 with ReLU.
    fuse: fold each activation into its Linear (see ``then``).
    Input shape: (N, ...) with in_features values per sample. Output shape: (N, n_classes).
    """
    layers, width = [Flatten()], in_features
    for h in hidden:
        layers += then(Linear, activation, fuse, width, h)
        width = h
    return Sequential(*layers, Linear(width, n_classes))


def seed_cnn(in_channels=1, n_classes=10, image_size=28, fuse=False):
    """The seed CNN: Conv 32 3×3 → ReLU → MaxPool 2 → Conv 64 3×3 → ReLU → MaxPool 2 →
    Conv 64 3×3 → ReLU → Flatten → Linear 64 → ReLU → Linear n_classes.
    Input shape: (N, in_channels, image_size, image_size), 28 for MNIST (576 features reach
    the first Linear), 32 for CIFAR-sized images. Output shape: (N, n_classes).
    fuse: fold each ReLU into the layer before it (see ``then``).
    """
    side = ((image_size - 2) // 2 - 2) // 2 - 2  # three 3×3 "valid" convolutions, two pools
    if side < 1:
        raise ValueError(f"seed_cnn: image_size must be at least 18, got {image_size}")
    return Sequential(
        *then(Conv2d, ReLU, fuse, in_channels, 32, 3), MaxPool2d(2),
        *then(Conv2d, ReLU, fuse, 32, 64, 3), MaxPool2d(2),
        *then(Conv2d, ReLU, fuse, 64, 64, 3),
        Flatten(), *then(Linear, ReLU, fuse, 64 * side * side, 64), Linear(64, n_classes),
    )  # fmt: skip


def lenet5(in_channels=1, n_classes=10, image_size=28, activation=Tanh, fuse=False):
    """LeNet-5 (LeCun et al., 1998) with average pooling as "subsampling": Conv 6 5×5 → act →
    AvgPool 2 → Conv 16 5×5 → act → AvgPool 2 → Flatten → Linear 120 → act → Linear 84 → act →
    Linear n_classes. 28×28 inputs are padded by 2 to the original 32×32.
    Input shape: (N, in_channels, image_size, image_size). Output shape: (N, n_classes).
    fuse: fold each activation into the layer before it (see ``then``).
    """
    padding = 2 if image_size == 28 else 0
    side = ((image_size + 2 * padding - 4) // 2 - 4) // 2
    if side < 1:
        raise ValueError(f"lenet5: image_size must be at least 16, got {image_size}")
    return Sequential(
        *then(Conv2d, activation, fuse, in_channels, 6, 5, padding=padding), AvgPool2d(2),
        *then(Conv2d, activation, fuse, 6, 16, 5), AvgPool2d(2),
        Flatten(), *then(Linear, activation, fuse, 16 * side * side, 120),
        *then(Linear, activation, fuse, 120, 84), Linear(84, n_classes),
    )  # fmt: skip


def vgg_block(in_channels, out_channels, convs=2):
    """``convs`` × (Conv 3×3 "same" → BatchNorm2d → ReLU), then MaxPool 2: VGG's unit."""
    layers = []
    for index in range(convs):
        channels = in_channels if index == 0 else out_channels
        layers += [Conv2d(channels, out_channels, 3, padding=1, bias=False),
                   BatchNorm2d(out_channels), ReLU()]  # fmt: skip
    return [*layers, MaxPool2d(2)]


def small_vgg(in_channels=1, n_classes=10, image_size=28, widths=(32, 64, 128)):
    """A small VGG-style net: one ``vgg_block`` per width (each halves the image), then
    Flatten → Linear 128 → ReLU → Dropout 0.5 → Linear n_classes.
    Input shape: (N, in_channels, image_size, image_size). Output shape: (N, n_classes).
    """
    layers, channels, side = [], in_channels, image_size
    for width in widths:
        layers += vgg_block(channels, width)
        channels, side = width, side // 2
    if side < 1:
        raise ValueError(f"small_vgg: {len(widths)} blocks need image_size >= {2 ** len(widths)}")
    return Sequential(
        *layers, Flatten(), Linear(channels * side * side, 128), ReLU(), Dropout(0.5),
        Linear(128, n_classes),
    )  # fmt: skip


def basic_block(in_channels, out_channels, stride=1):
    """ResNet's basic block: Conv 3×3 → BN → ReLU → Conv 3×3 → BN, plus the shortcut (the
    identity, or a 1×1 Conv + BN where the block changes the stride or the channels), then ReLU.
    """
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = Sequential(
            Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            BatchNorm2d(out_channels),
        )
    body = [
        Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        BatchNorm2d(out_channels), ReLU(),
        Conv2d(out_channels, out_channels, 3, padding=1, bias=False), BatchNorm2d(out_channels),
    ]  # fmt: skip
    return [Residual(*body, shortcut=shortcut), ReLU()]


def small_resnet(in_channels=1, n_classes=10, widths=(16, 32, 64), blocks_per_stage=1):
    """A small ResNet: a stem Conv 3×3 → BN → ReLU, ``blocks_per_stage`` basic blocks per
    width (the first of each later stage halves the image), global average pooling, Linear.
    Works on any image size of 8 or more (28×28 MNIST, 32×32 CIFAR).
    Input shape: (N, in_channels, H, W). Output shape: (N, n_classes).
    """
    layers = [Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
              BatchNorm2d(widths[0]), ReLU()]  # fmt: skip
    channels = widths[0]
    for stage, width in enumerate(widths):
        for index in range(blocks_per_stage):
            stride = 2 if stage > 0 and index == 0 else 1
            layers += basic_block(channels, width, stride)
            channels = width
    return Sequential(*layers, AdaptiveAvgPool2d(1), Flatten(), Linear(channels, n_classes))


RECURRENT = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def sequence_classifier(input_size=28, hidden=128, n_classes=10, cell="lstm"):
    """A many-to-one classifier: a recurrent layer ("rnn" with tanh, "lstm" or "gru"; one layer,
    batch_first) reads the sequence, a Linear reads its last step's h. The defaults classify
    MNIST read row by row (28 steps of 28 pixels).
    Input shape: (N, T, input_size). Output shape: (N, n_classes).
    """
    recurrent = RECURRENT[cell](input_size, hidden, batch_first=True)
    return Sequential(recurrent, LastTimeStep(), Linear(hidden, n_classes))


def char_language_model(vocab_size, embedding=64, hidden=256, num_layers=1, cell="lstm"):
    """A character-level language model (char-rnn): Embedding → recurrent layer ("rnn", "lstm"
    or "gru", batch_first) → Linear to the next character's logits at every position.
    Input shape: token ids (N, T). Output shape: (N, T, vocab_size).
    """
    return Sequential(
        Embedding(vocab_size, embedding),
        RECURRENT[cell](embedding, hidden, num_layers=num_layers, batch_first=True),
        Linear(hidden, vocab_size),
    )


def autoencoder(code=32, in_features=784, hidden=128):
    """A fully connected autoencoder: Flatten → Linear hidden → ReLU → Linear code → ReLU →
    Linear hidden → ReLU → Linear in_features, the reconstruction's logits (train it with
    ``BCEWithLogitsLoss`` against the inputs' pixels in [0, 1]; σ of the output is the image).
    The defaults are 784 → 128 → 32 → 128 → 784 for MNIST.
    Input shape: (N, ...) with in_features values per sample. Output shape: (N, in_features).
    """
    return Sequential(
        Flatten(), Linear(in_features, hidden), ReLU(), Linear(hidden, code), ReLU(),
        Linear(code, hidden), ReLU(), Linear(hidden, in_features),
    )  # fmt: skip


def vae(latent_dim=20, hidden=400, in_features=784, reduction="sum"):
    """The variational autoencoder of pytorch/examples (Kingma & Welling, 2014) for MNIST:
    Flatten → Linear 784 → 400 → ReLU → Linear 400 → 2·latent_dim ([μ | log σ²], the encoder)
    → Reparameterize (z = μ + σ·ε, and the KL to N(0, I)) → Linear latent_dim → 400 → ReLU →
    Linear 400 → 784, the reconstruction's logits (the decoder).
    reduction: how Reparameterize reduces the KL over the batch, as the loss must ("sum": with
    ``BCEWithLogitsLoss(reduction="sum")`` the objective is the negative ELBO, as there).
    Trained as ``fit(model, BCEWithLogitsLoss(reduction="sum"), Adam(model, lr=1e-3), (x, x),
    batch_size=128)`` with x the (N, 784) pixels in [0, 1]. The encoder's last Linear is
    pytorch/examples' fc21 and fc22 stacked (rows :latent_dim and latent_dim:); the decoder
    alone is ``model.layers[5:]``.
    Input shape: (N, ...) with in_features values per sample. Output shape: (N, in_features).
    """
    return Sequential(
        Flatten(), Linear(in_features, hidden), ReLU(), Linear(hidden, 2 * latent_dim),
        Reparameterize(reduction=reduction),
        Linear(latent_dim, hidden), ReLU(), Linear(hidden, in_features),
    )  # fmt: skip


def conv_autoencoder(in_channels=1, widths=(16, 32)):
    """A convolutional autoencoder for 28×28 images: Conv2d 3×3 stride 2 → ReLU per width down
    (28 → 14 → 7), then ConvTranspose2d 3×3 stride 2 (output_padding 1) → ReLU per width back
    up (7 → 14 → 28), the last one to in_channels without ReLU: the reconstruction's logits
    (train it with ``BCEWithLogitsLoss`` against the images in [0, 1]).
    Input shape: (N, in_channels, H, W), H and W multiples of 2^len(widths) (28 with the
    defaults' two halvings). Output shape: (N, in_channels, H, W).
    """
    down, channels = [], in_channels
    for width in widths:
        down += [Conv2d(channels, width, 3, stride=2, padding=1), ReLU()]
        channels = width
    up = []
    for width in [*reversed(widths[:-1]), in_channels]:
        up += [ConvTranspose2d(channels, width, 3, stride=2, padding=1, output_padding=1), ReLU()]
        channels = width
    return Sequential(*down, *up[:-1])


def mnist_gan(latent_dim=64):
    """A DCGAN-style pair (Radford et al., 2016) for 28×28 MNIST: (generator, discriminator).

    generator:  z (N, latent_dim) → Linear 128·7·7 → BatchNorm1d → ReLU → Unflatten (128, 7, 7)
                → ConvTranspose2d 128 → 64, 4×4 stride 2 (7 → 14) → BatchNorm2d → ReLU
                → ConvTranspose2d 64 → 1, 4×4 stride 2 (14 → 28) → Tanh: images (N, 1, 28, 28)
                in [−1, 1] (scale real images to [−1, 1] too)
    discriminator: images (N, 1, 28, 28) → Conv2d 1 → 64, 4×4 stride 2 (28 → 14) →
                LeakyReLU 0.2 → Conv2d 64 → 128, 4×4 stride 2 (14 → 7) → BatchNorm2d →
                LeakyReLU 0.2 → Flatten → Linear 1: a logit per image (N, 1), real > 0
    The layers before a BatchNorm have no bias (the norm's β takes its place), as in DCGAN; D's
    first layer has no norm (DCGAN's rule). Train it with ``nn.fit_gan``.
    """
    generator = Sequential(
        Linear(latent_dim, 128 * 7 * 7, bias=False), BatchNorm1d(128 * 7 * 7), ReLU(),
        Unflatten(1, (128, 7, 7)),
        ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False), BatchNorm2d(64), ReLU(),
        ConvTranspose2d(64, 1, 4, stride=2, padding=1), Tanh(),
    )  # fmt: skip
    discriminator = Sequential(
        Conv2d(1, 64, 4, stride=2, padding=1), LeakyReLU(0.2),
        Conv2d(64, 128, 4, stride=2, padding=1, bias=False), BatchNorm2d(128), LeakyReLU(0.2),
        Flatten(), Linear(128 * 7 * 7, 1),
    )  # fmt: skip
    return generator, discriminator


def seed_transformer(vocab_size, embed_dim=32, num_heads=2, ff_dim=32):
    """The course's Transformer as written in Keras: Embedding → TransformerBlock → Dense(vocab).
    The block: multi-head self-attention (Keras's ``MultiHeadAttention(num_heads,
    key_dim=embed_dim)``: each head embed_dim wide), dropout 0.1, residual add,
    LayerNormalization(epsilon=1e-6), then Dense(ff_dim, relu) → Dense(embed_dim), dropout 0.1,
    residual add, a second layer norm (post-norm). No positions and no mask: every position sees
    the whole sequence as a set. Initialisation is numbanet's (torch's), not Keras's.
    Input shape: token ids (N, T). Output shape: (N, T, vocab_size).
    """
    attention = MultiheadAttention(embed_dim, num_heads, head_dim=embed_dim)
    block = Sequential(
        Residual(attention, Dropout(0.1)), LayerNorm(embed_dim, eps=1e-6),
        Residual(Linear(embed_dim, ff_dim), ReLU(), Linear(ff_dim, embed_dim), Dropout(0.1)),
        LayerNorm(embed_dim, eps=1e-6),
    )  # fmt: skip
    return Sequential(Embedding(vocab_size, embed_dim), block, Linear(embed_dim, vocab_size))


def gpt(vocab_size, block_size, n_layer, n_head, n_embd, dropout=0.0):
    """A decoder-only GPT in nanoGPT's shape: token embedding + learned positions (and dropout),
    ``n_layer`` pre-norm causal Transformer blocks (``TransformerEncoderLayer(norm_first=True,
    causal=True)``) with a GELU MLP of width 4·n_embd, a final LayerNorm and a linear head to
    the vocabulary. Initialised as nanoGPT: every weight matrix and embedding N(0, 0.02), the
    projections that write into the residual stream (attention's out_proj, the MLP's linear2)
    N(0, 0.02/√(2·n_layer)), biases 0. Unlike nanoGPT the head is not tied to the embedding,
    and every Linear and LayerNorm has a bias (as torch's blocks).
    Input shape: token ids (N, T), T <= block_size. Output shape: logits (N, T, vocab_size).
    """
    blocks = [
        TransformerEncoderLayer(
            n_embd, n_head, 4 * n_embd, dropout, activation="gelu", norm_first=True, causal=True
        )  # fmt: skip
        for _ in range(n_layer)
    ]
    model = Sequential(
        Embedding(vocab_size, n_embd), PositionalEmbedding(block_size, n_embd), Dropout(dropout),
        *blocks, LayerNorm(n_embd), Linear(n_embd, vocab_size),
    )  # fmt: skip
    generator = rng.generator()
    for _, layer in model.named_param_layers():
        if isinstance(layer, LayerNorm):
            continue  # γ = 1, β = 0 already
        for name, value in layer.params.items():
            residual = name == "out_proj.weight" or any(layer is b.linear2 for b in blocks)
            std = 0.02 / math.sqrt(2 * n_layer) if residual else 0.02
            value[...] = generator.normal(0, std, value.shape) if value.ndim == 2 else 0
    return model
