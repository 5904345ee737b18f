"""Kernels: the math of every layer, loss and optimizer, one family per file.

``scalar.py`` holds the per-element math (relu, sigmoid, ...) written once; ``cpu/`` compiles
the array kernels with Numba for the CPU, ``cuda/`` launches their twins on an NVIDIA GPU;
``codes.py`` numbers the activations a kernel can apply, for layers that pass them. Only
``codes.py`` and this file load without Numba: ``import numbanet`` imports nothing else here.

**The kernel table.** ``FAMILIES`` below is the one list of every kernel: each family is a
file, ``cpu/<family>.py`` and ``cuda/<family>.py``, and names the kernels that both files
define, with the same arguments. A backend's table (``backend.kernels``) is built from it by
``device_table``, which fails at once, naming the kernel and the device, if either file lacks
one. To add a family: write its two files and add one line to ``FAMILIES``
(``"layer_norm": ("layer_norm_forward", "layer_norm_backward"),``); to add a kernel to a family,
add its name to that family's line. A kernel's name says what it does: ``<op>_forward`` and
``<op>_backward`` for a layer's two passes, plain verbs (``add``, ``swap_batch_time``) for the
rest.

**The plan.** How a device schedules its work (the CPU's chunks of images per thread) stays
with that device: ``cpu/plan.py`` and ``cuda/plan.py`` answer what a layer must ask before it
calls a kernel — the shapes of the scratch arrays it owns (``PLAN``, ``backend.plan``).

Tips for reading and debugging the kernels:

* ``NUMBA_DISABLE_JIT=1`` runs every kernel as plain Python, so ``pdb`` and ``print`` work.
* ``kernel.py_func`` is the Python body of a compiled kernel.
* ``NUMBA_ENABLE_CUDASIM=1`` runs CUDA kernels on the CPU in Numba's simulator.
* Compiled kernels are cached beside their source (``__pycache__``). Numba itself notices an
  edit to a kernel's own file only, not to ``scalar.py`` or another file whose functions a
  kernel calls; ``cpu/cache.py`` empties the cache at import whenever any kernel source changed.
"""

import importlib
from types import SimpleNamespace

# family (its file in cpu/ and in cuda/): the kernels it exports on both devices
FAMILIES = {
    "dense": ("dense_forward", "dense_backward", "dense_input_grad"),
    "conv": (
        "conv2d_forward", "conv2d_backward", "conv2d_input_grad", "conv_transpose2d_forward",
        "conv_transpose2d_bias_backward",
    ),  # fmt: skip
    "pool": (
        "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
        "global_avg_pool2d_forward", "global_avg_pool2d_backward",
    ),  # fmt: skip
    "norm": ("batch_norm_forward", "batch_norm_backward"),
    "dropout": ("dropout_forward", "dropout_backward"),
    "elementwise": ("add", "scale_rows"),
    "activation": (
        "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
        "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward",
        "softmax_forward", "softmax_backward", "log_softmax_forward", "log_softmax_backward",
        "gelu_forward", "gelu_backward",
    ),  # fmt: skip
    "loss": (
        "mse_forward", "mse_backward", "bce_forward", "bce_backward", "bce_with_logits_forward",
        "bce_with_logits_backward", "softmax_cross_entropy_forward",
        "softmax_cross_entropy_backward",
    ),  # fmt: skip
    "optim": ("sgd_step", "adam_step", "squared_norm_partials", "scale_in_place"),
    "penalty": ("l1_penalty_backward", "l2_penalty_backward"),
    "embedding": (
        "embedding_forward", "embedding_backward", "position_embedding_forward",
        "position_embedding_backward",
    ),  # fmt: skip
    "layernorm": ("layer_norm_forward", "layer_norm_backward"),
    "attention": (
        "heads_split_forward", "heads_split_backward", "attention_scores_forward",
        "attention_scores_backward", "attention_softmax_forward", "attention_softmax_backward",
        "attention_values_forward", "attention_values_backward",
    ),  # fmt: skip
    "sequence": ("last_step_forward", "last_step_backward"),
    "recurrent": (
        "rnn_cell_forward", "rnn_cell_backward", "lstm_cell_forward", "lstm_cell_backward",
        "gru_cell_forward", "gru_cell_backward", "hidden_projection_backward",
        "rnn_sequence_forward", "rnn_sequence_backward", "lstm_sequence_forward",
        "lstm_sequence_backward", "gru_sequence_forward", "gru_sequence_backward",
        "swap_batch_time",
    ),  # fmt: skip
    "upsample": ("upsample_nearest2d_forward", "upsample_nearest2d_backward"),
    "variational": ("reparameterize_forward", "reparameterize_backward"),
}

# what a layer asks a device's plan (``cpu/plan.py``, ``cuda/plan.py``), the same on both
PLAN = {"plan": ("conv2d_scratch_shapes",)}


class KernelTableError(LookupError):
    """A device lacks a kernel that ``FAMILIES`` lists."""


class KernelTable(SimpleNamespace):
    """One device's kernels by name: ``table.dense_forward(x, W, b, ...)``."""

    def __getattr__(self, name):  # called only for a name the table lacks
        raise AttributeError(
            f"no kernel {name!r} in the kernel table: every kernel is listed by family in "
            f"FAMILIES (numbanet/kernels/__init__.py)"
        )


def device_table(device, families=FAMILIES):
    """The functions ``families`` names, taken from ``numbanet.kernels.<device>.<family>``
    ("cpu" or "cuda"): a ``KernelTable``. Raises ``KernelTableError``, naming the kernel, its
    family and the device, where a family's file or one of its kernels is missing."""
    kernels = {}
    for family, names in families.items():
        where = f"numbanet.kernels.{device}.{family}"
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as exc:
            if exc.name != where:
                raise
            raise KernelTableError(
                f"the {device} device has no {family!r} kernels: {where} is missing "
                f"(family {family!r}: {', '.join(names)})"
            ) from None
        for name in names:
            if not callable(getattr(module, name, None)):
                raise KernelTableError(
                    f"the {device} device lacks the kernel {name!r} of family {family!r}: "
                    f"{where} defines no function {name}"
                )
            kernels[name] = getattr(module, name)
    return KernelTable(**kernels)
