"""Classification metrics: accuracy, precision, recall, F1 and the confusion matrix (NumPy)."""

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "precision_recall_f1", "predicted_labels"]


def predicted_labels(output):
    """Class labels from a model's output: argmax over classes for (N, K) scores with K > 1,
    ``output >= 0.5`` for (N,) or (N, 1) probabilities (pass sigmoid probabilities, not logits).
    """
    output = np.asarray(output)
    if output.ndim == 2 and output.shape[1] > 1:
        return output.argmax(axis=1)
    return (output.reshape(-1) >= 0.5).astype(np.int64)


def _labels(y_true, y_pred):
    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    y_pred = np.asarray(y_pred)
    y_pred = (
        (predicted_labels(y_pred) if y_pred.dtype.kind == "f" else y_pred)
        .reshape(-1)
        .astype(np.int64)
    )
    if y_true.shape != y_pred.shape:
        raise ValueError(f"metrics: {len(y_true)} true labels but {len(y_pred)} predictions")
    if (y_true < 0).any() or (y_pred < 0).any():
        raise ValueError("metrics: labels must be >= 0")
    return y_true, y_pred


def confusion_matrix(y_true, y_pred, n_classes=None):
    """(K, K) int64 counts: row = true class, column = predicted class (scikit-learn's layout)."""
    y_true, y_pred = _labels(y_true, y_pred)
    k = n_classes or int(max(y_true.max(initial=-1), y_pred.max(initial=-1)) + 1)
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def accuracy(y_true, y_pred):
    """The fraction of predictions equal to the true label."""
    y_true, y_pred = _labels(y_true, y_pred)
    return float((y_true == y_pred).mean()) if y_true.size else 0.0


def precision_recall_f1(y_true, y_pred, n_classes=None, average="macro"):
    """Precision TP/(TP+FP), recall TP/(TP+FN) and F1 = 2PR/(P+R) per class, macro-averaged
    (the plain mean over the classes that occur) unless ``average="none"``. A class never
    predicted (or never present) scores 0 where its denominator is 0, as scikit-learn's
    ``zero_division=0``.
    """
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
    if average != "macro":
        raise ValueError(f"precision_recall_f1: average must be 'macro' or 'none', got {average!r}")
    present = (predicted + actual) > 0  # as scikit-learn: classes absent from both are left out
    return tuple(
        float(m[present].mean()) if present.any() else 0.0 for m in (precision, recall, f1)
    )
