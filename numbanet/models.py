"""Ready-made models: the classic architectures, built from the layers."""

import math

from numbanet import rng
from numbanet.layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    GRU,
    LastTimeStep,
    LayerNorm,
    Linear,
    LSTM,
    MaxPool2d,
    MultiheadAttention,
    PositionalEmbedding,
    ReLU,
    Residual,
    RNN,
    Sequential,
    Tanh,
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
