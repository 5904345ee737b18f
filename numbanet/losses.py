"""Loss functions: how wrong a prediction is (a float) and its gradient ∂L/∂prediction.

    loss = loss_fn(prediction, target)     # a Python float
    dy = loss_fn.backward()                # ∂L/∂prediction, the prediction's shape

``reduction="mean"`` (default, as torch) averages over the batch (CrossEntropy) or over every
element (MSE, BCE); ``"sum"`` adds them up; ``"none"`` gives the losses themselves, a new host
array shaped as torch's (the prediction's shape; CrossEntropy: (N,) or (N, T)), and
``backward(dloss)`` then takes their gradient dloss (default: ones, the gradient of their sum).
An empty batch has loss 0 and an empty gradient.
The math is in ``kernels/cpu/loss.py`` (``kernels/cuda/loss.py`` on the GPU). A loss runs
on the device of its prediction: targets given on the host are checked there and copied over;
the per-row losses come back to the host for the float (the one transfer of a GPU step).
"""

import math

import numpy as np

from numbanet.backend import backend_of, get_backend, is_device_array, to_host
from numbanet.layers.base import LayerInputError

REDUCTIONS = ("mean", "sum", "none")


def to_host_if_device(array):
    """``array`` itself, or a host copy if it lives on the GPU (targets are checked on the host)."""
    return to_host(array) if is_device_array(array) else array


class Loss:
    """Base class: checks inputs, runs the ``<kernel>_forward``/``_backward`` pair, reduces."""

    kernel = ""
    formula = ""  # the loss and its gradient in one line, for the inspector

    def __init__(self, reduction="mean"):
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: reduction must be one of {REDUCTIONS}, got {reduction!r}"
            )
        self.reduction = reduction
        self.saved = {}
        self._buffers = {}
        self.backend = get_backend("cpu")

    def __call__(self, prediction, target):
        return self.forward(prediction, target)

    def error(self, message):
        return LayerInputError(f"{self!r}: {message}")

    def _buffer(self, key, shape, dtype):
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype or not self.backend.owns(buf):
            buf = self._buffers[key] = self.backend.empty(shape, dtype)
        return buf

    def _prediction(self, prediction):
        """The prediction as a float array on its device (float32 unless it is float64)."""
        self.backend = backend_of(prediction)
        if is_device_array(prediction):
            if prediction.dtype not in (np.float32, np.float64):
                raise self.error(f"expected a float prediction, got dtype {prediction.dtype}")
            return prediction
        dtype = prediction.dtype if getattr(prediction, "dtype", None) == np.float64 else np.float32
        try:
            return np.ascontiguousarray(prediction, dtype)
        except (TypeError, ValueError) as exc:
            raise self.error(
                f"expected a numeric prediction, got {type(prediction).__name__}"
            ) from exc

    def _to_device(self, key, host):
        """A host array on the prediction's device, in a buffer reused across steps."""
        if self.backend.name == "cpu":
            return host
        device = self._buffer(key, host.shape, host.dtype)
        self.backend.copy_into(device, host)
        return device

    def forward(self, prediction, target):
        """The loss of ``prediction`` against ``target``: a float, or with reduction "none" a
        host array of the losses; keeps what backward needs."""
        prediction = self._prediction(prediction)
        target = self._to_device("target", self.check_target(prediction, to_host_if_device(target)))
        pred2d, target2d = self.rows(prediction, target)
        row_loss = self._buffer("row_loss", (pred2d.shape[0],), prediction.dtype)
        self.forward_kernel(self.backend.kernels, pred2d, target2d, row_loss)
        self.saved = {"prediction": prediction, "target": target}
        if self.reduction == "none":
            return to_host(row_loss).reshape(self.loss_shape(prediction))
        total = float(to_host(row_loss).sum()) if row_loss.size else 0.0
        return (
            total / self.count(prediction)
            if self.reduction == "mean" and prediction.size
            else total
        )

    def backward(self, dloss=None):
        """∂L/∂prediction for the last forward, shaped like the prediction. With reduction
        "none", dloss is the gradient of the losses forward gave (their shape; default ones):
        each loss's gradient is weighted by it."""
        if not self.saved:
            raise self.error("backward called before forward: compute the loss first")
        prediction, target = self.saved["prediction"], self.saved["target"]
        pred2d, target2d = self.rows(prediction, target)
        grad = self._buffer("grad", prediction.shape, prediction.dtype)
        count = self.count(prediction)
        scale = 1.0 / count if self.reduction == "mean" and count else 1.0
        grad2d = grad.reshape(pred2d.shape)
        self.backward_kernel(self.backend.kernels, pred2d, target2d, scale, grad2d)
        if dloss is not None:
            weights = self._loss_gradient(prediction, dloss)
            self.backend.kernels.scale_rows(grad2d, weights, grad2d)
        return grad

    def _loss_gradient(self, prediction, dloss):
        """dloss, checked, as one weight per row of the kernels' view, on the device."""
        if self.reduction != "none":
            raise self.error(
                f"backward(dloss) takes a gradient only with reduction='none'; with "
                f"{self.reduction!r} the loss is a float and backward() takes no argument"
            )
        shape = self.loss_shape(prediction)
        try:
            host = np.ascontiguousarray(to_host_if_device(dloss), prediction.dtype)
        except (TypeError, ValueError) as exc:
            raise self.error(f"expected a numeric dloss, got {type(dloss).__name__}") from exc
        if host.shape != shape:
            raise self.error(f"expected dloss of the losses' shape {shape}, got {host.shape}")
        return self._to_device("dloss", host.reshape(-1))

    def sample_total(self, loss, batch_size):
        """What a batch adds to a sum over samples whose average ``fit`` and ``evaluate``
        report: loss · batch_size for "mean" (the average stays the mean per element, or per
        sample for CrossEntropy), the loss itself for "sum" (the average is the sum per
        sample: pytorch/examples' "loss per image")."""
        if self.reduction == "none":
            raise self.error(
                "a loss with reduction='none' gives no single number to train on or report: "
                "use 'mean' or 'sum'"
            )
        return loss * batch_size if self.reduction == "mean" else loss

    def check_terms(self, model):
        """Raise unless every layer of ``model`` that adds a term to the objective (a VAE's KL,
        ``Layer.objective_terms``) reduces it over the batch as this loss reduces its own: a
        summed loss with an averaged KL would weigh the KL N times too little."""
        for layer in model.modules():
            reduction = layer.objective_reduction
            if reduction is not None and reduction != self.reduction:
                raise self.error(
                    f"{layer.name} reduces its objective term over the batch with "
                    f"reduction={reduction!r} but this loss with {self.reduction!r}: give both "
                    f"the same reduction"
                )

    # ----- what each loss defines -----------------------------------------------------------
    def check_target(self, prediction, target):
        """The target as an array the kernels take, or a clear error."""
        try:
            target = np.ascontiguousarray(target, prediction.dtype)
        except (TypeError, ValueError) as exc:
            raise self.error(f"expected a numeric target, got {type(target).__name__}") from exc
        if target.shape != prediction.shape:
            raise self.error(
                f"expected a target of the prediction's shape {prediction.shape}, "
                f"got {target.shape}"
            )
        return target

    def rows(self, prediction, target):
        """2-D (N, D) views of prediction and target that the kernels loop over; with
        reduction "none", (N·D, 1): one row, so one loss, per element."""
        if self.reduction == "none":
            return prediction.reshape(prediction.size, 1), target.reshape(target.size, 1)
        n = prediction.shape[0] if prediction.ndim else 1
        shape = (n, prediction.size // n if n else math.prod(prediction.shape[1:]))
        return prediction.reshape(shape), target.reshape(shape)

    def count(self, prediction):
        """What "mean" divides by: every element (MSE, BCE) or every row (cross-entropy)."""
        return prediction.size

    def loss_shape(self, prediction):
        """The shape of the losses reduction "none" gives: one per element (MSE, BCE)."""
        return prediction.shape

    def forward_kernel(self, kernels, prediction, target, row_loss):
        getattr(kernels, self.kernel + "_forward")(prediction, target, row_loss)

    def backward_kernel(self, kernels, prediction, target, scale, grad):
        getattr(kernels, self.kernel + "_backward")(prediction, target, scale, grad)

    def predictions(self, output):
        """Predicted class labels from the model's output, or None for regression losses."""
        return None

    def __repr__(self):
        extra = "" if self.reduction == "mean" else f"reduction={self.reduction!r}"
        return f"{type(self).__name__}({extra})"


class MSELoss(Loss):
    """Mean squared error: L = mean((y - t)²); ∂L/∂y = 2 (y - t) / n.
    prediction, target: the same shape.
    """

    kernel = "mse"
    formula = "L = mean((y − t)²),  ∂L/∂y = 2(y − t)/n"


class BCELoss(Loss):
    """Binary cross-entropy of probabilities: L = -mean(t log p + (1 - t) log(1 - p)).
    prediction p in [0, 1] (after a Sigmoid), target t in [0, 1], the same shape.
    ∂L/∂p = (p - t) / (p (1 - p)) / n. Prefer BCEWithLogitsLoss: it is stable for large logits.
    """

    kernel = "bce"
    formula = "L = −mean(t·log p + (1−t)·log(1−p)),  ∂L/∂p = (p − t) / (p(1−p)·n)"

    def check_target(self, prediction, target):
        target = super().check_target(prediction, target)
        p = to_host_if_device(prediction)  # on the GPU, this check costs a copy to the host
        if p.size and (p.min() < 0 or p.max() > 1):
            raise self.error(
                f"expected probabilities in [0, 1] (put a Sigmoid before it), got values in "
                f"[{p.min():g}, {p.max():g}]"
            )
        return target

    def predictions(self, output):
        return (to_host(output) >= 0.5).astype(np.int64).reshape(len(output), -1)


class BCEWithLogitsLoss(Loss):
    """Sigmoid and binary cross-entropy in one: L = mean(max(z, 0) - z t + log(1 + e^-|z|)).
    prediction z: logits, target t in [0, 1], the same shape. ∂L/∂z = (σ(z) - t) / n.
    """

    kernel = "bce_with_logits"
    formula = "L = mean(max(z,0) − z·t + log(1 + e^−|z|)),  ∂L/∂z = (σ(z) − t)/n"

    def predictions(self, output):
        return (to_host(output) >= 0).astype(np.int64).reshape(len(output), -1)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy for classification, fused in one kernel:
    L = mean over rows of (log Σₖ e^z_k - z_label);   ∂L/∂z = (softmax(z) - onehot(label)) / N.
    prediction z: logits (N, C); target: integer class labels (N,) in [0, C).
    Sequences (a language model's next-token logits): logits (N, T, C) and labels (N, T), the
    mean over all N·T positions. torch takes such logits as (N, C, T); here the classes stay
    last, as a Linear on (N, T, H) gives them (``logits.permute(0, 2, 1)`` for torch's loss).
    """

    kernel = "softmax_cross_entropy"
    formula = "L = mean(log Σₖ e^z_k − z_label),  ∂L/∂z = (softmax(z) − onehot)/N"

    def check_target(self, prediction, target):
        # classes are the last dim (not shape[-1]: shapes in the CUDA simulator take no negative
        # index)
        n_classes = prediction.shape[prediction.ndim - 1] if prediction.ndim else 0
        if prediction.ndim not in (2, 3) or n_classes < 1:
            raise self.error(
                f"expected logits of shape (N, C), or (N, T, C) for sequences, "
                f"got {prediction.shape}"
            )
        target = np.asarray(target)
        labels = "(N,)" if prediction.ndim == 2 else "(N, T)"
        if target.dtype.kind not in "iu":
            raise self.error(
                f"expected integer class labels of shape {labels}, got dtype {target.dtype} "
                f"(convert with .astype(np.int64))"
            )
        if target.shape != prediction.shape[:-1]:
            batch = f"batch of {prediction.shape[0]}"
            if prediction.ndim == 3:
                batch += f" sequences of {prediction.shape[1]} steps"
            raise self.error(
                f"expected labels of shape {tuple(prediction.shape[:-1])} to match the logits' "
                f"{batch}, got {target.shape}"
            )
        if target.size and (target.min() < 0 or target.max() >= n_classes):
            raise self.error(
                f"expected labels in [0, {n_classes - 1}] for {n_classes} classes, got labels "
                f"in [{target.min()}, {target.max()}]"
            )
        return np.ascontiguousarray(target, np.int64)

    def rows(self, prediction, target):
        """One row of logits per position: (N, T, C) as (N·T, C), labels (N, T) as (N·T,)."""
        n_classes = prediction.shape[prediction.ndim - 1]
        return prediction.reshape(-1, n_classes), target.reshape(-1)

    def count(self, prediction):
        return prediction.size // prediction.shape[prediction.ndim - 1]  # N, or N·T

    def loss_shape(self, prediction):
        return prediction.shape[:-1]  # (N,), or (N, T)

    def forward_kernel(self, kernels, logits, labels, row_loss):
        probs = self._buffer("probs", logits.shape, logits.dtype)
        kernels.softmax_cross_entropy_forward(logits, labels, probs, row_loss)

    def backward_kernel(self, kernels, logits, labels, scale, grad):
        kernels.softmax_cross_entropy_backward(self._buffers["probs"], labels, scale, grad)

    def predictions(self, output):
        return to_host(output).argmax(axis=-1)
