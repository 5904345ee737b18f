"""Classification metrics: accuracy, precision, recall, F1 and the confusion matrix (NumPy)."""

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "precision_recall_f1", "predicted_labels"]


def predicted_labels(output):
    """Class labels (N,) int64 from a model's output.

    (N, K) scores, logits or probabilities with K > 1: the argmax over classes. (N,) or (N, 1)
    probabilities of class 1: ``output >= 0.5``. A binary model that outputs logits must pass
    ``sigmoid(logits)`` here: a logit's threshold is 0, not 0.5.
    """
    output = np.asarray(output)
    if output.ndim == 2 and output.shape[1] > 1:
        return output.argmax(axis=1)
    if output.size and (output.min() < 0 or output.max() > 1):
        # thresholding logits or float labels at 0.5 would silently give wrong classes
        raise ValueError(
            f"predicted_labels: (N,) or (N, 1) outputs must be probabilities in [0, 1], found "
            f"values in [{output.min():g}, {output.max():g}]; pass sigmoid(logits), or integer "
            f"labels"
        )
    return (output.reshape(-1) >= 0.5).astype(np.int64)


def _labels(y_true, y_pred):
    """Both label arrays as (N,) int64, after turning scores or probabilities into labels."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if (y_pred.ndim == 2 and y_pred.shape[1] > 1) or y_pred.dtype.kind == "f":
        y_pred = predicted_labels(y_pred)
    labels = []
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        y_int = y.reshape(-1).astype(np.int64)
        if y.dtype.kind == "f" and not np.array_equal(y_int, y.reshape(-1)):
            raise ValueError(f"metrics: {name} holds non-integer values; expected class labels")
        if (y_int < 0).any():
            raise ValueError(f"metrics: {name} has negative labels; classes are 0..K-1")
        labels.append(y_int)
    y_true, y_pred = labels
    if y_true.shape != y_pred.shape:
        raise ValueError(f"metrics: {len(y_true)} true labels but {len(y_pred)} predictions")
    return y_true, y_pred


def confusion_matrix(y_true, y_pred, n_classes=None):
    """(K, K) int64 counts: row = true class, column = predicted class (scikit-learn's layout).

    y_true: (N,) labels; y_pred: (N,) labels or scores (see ``predicted_labels``). K is
    ``n_classes``, else one more than the largest label seen.
    """
    y_true, y_pred = _labels(y_true, y_pred)
    largest = int(max(y_true.max(initial=-1), y_pred.max(initial=-1)))
    k = largest + 1 if n_classes is None else int(n_classes)
    if largest >= k:
        raise ValueError(f"confusion_matrix: label {largest} found but n_classes={k}")
    # one bin per (true, predicted) pair, row-major, so one bincount fills the whole matrix
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def accuracy(y_true, y_pred):
    """The fraction of predictions equal to the true label (0.0 for no samples).

    y_true: (N,) labels; y_pred: (N,) labels or scores (see ``predicted_labels``).
    """
    y_true, y_pred = _labels(y_true, y_pred)
    return float((y_true == y_pred).mean()) if y_true.size else 0.0


def precision_recall_f1(y_true, y_pred, n_classes=None, average="macro"):
    """Precision TP/(TP+FP), recall TP/(TP+FN) and F1 = 2PR/(P+R) of each class.

    y_true: (N,) labels; y_pred: (N,) labels or scores (see ``predicted_labels``). Returns three
    floats, the plain mean over the classes that occur in y_true or y_pred (``"macro"``), or
    three (K,) arrays (``average="none"``). A metric whose denominator is 0 (a class never
    predicted, or never present) scores 0, as scikit-learn's ``zero_division=0``.
    """
    if average not in ("macro", "none"):
        raise ValueError(f"precision_recall_f1: average must be 'macro' or 'none', got {average!r}")
    cm = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(
        2 * precision * recall, denominator, out=np.zeros_like(tp), where=denominator > 0
    )
    if average == "none":
        return precision, recall, f1
    present = (predicted + actual) > 0  # as scikit-learn: classes absent from both are left out
    return tuple(
        float(m[present].mean()) if present.any() else 0.0 for m in (precision, recall, f1)
    )
