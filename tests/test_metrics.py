"""Metrics against hand-computed cases and scikit-learn."""

import numpy as np
import pytest

from numbanet import metrics


def test_hand_computed_case():
    y_true = [0, 0, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0]
    assert metrics.confusion_matrix(y_true, y_pred, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(0.6)
    p, r, f = metrics.precision_recall_f1(y_true, y_pred, average="none")
    np.testing.assert_allclose(p, [0.5, 2 / 3, 0])
    np.testing.assert_allclose(r, [0.5, 1, 0])
    np.testing.assert_allclose(f, [0.5, 0.8, 0])


def test_scores_are_turned_into_labels():
    assert metrics.predicted_labels(np.array([[0.1, 0.9], [2.0, -1.0]])).tolist() == [1, 0]
    assert metrics.predicted_labels(np.array([[0.7], [0.3]])).tolist() == [1, 0]
    assert metrics.accuracy([1, 0], np.array([[0.1, 0.9], [2.0, -1.0]])) == 1.0


@pytest.mark.parametrize("seed", range(3))
def test_metrics_match_scikit_learn(seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, 200)
    y_pred = np.where(
        rng.random(200) < 0.6, y_true, rng.integers(0, 4, 200)
    )  # class 4 rarely predicted
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y_true, y_pred), sk.confusion_matrix(y_true, y_pred)
    )
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(sk.accuracy_score(y_true, y_pred))
    p, r, f = metrics.precision_recall_f1(y_true, y_pred)
    assert p == pytest.approx(sk.precision_score(y_true, y_pred, average="macro", zero_division=0))
    assert r == pytest.approx(sk.recall_score(y_true, y_pred, average="macro", zero_division=0))
    assert f == pytest.approx(sk.f1_score(y_true, y_pred, average="macro", zero_division=0))


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="3 true labels but 2 predictions"):
        metrics.accuracy([0, 1, 1], [0, 1])
