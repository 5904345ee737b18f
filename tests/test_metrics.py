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


def test_a_declared_class_count_pads_the_matrix_and_excludes_unseen_classes_from_the_mean():
    cm = metrics.confusion_matrix([0, 1], [0, 0], n_classes=4)
    assert cm.shape == (4, 4) and cm.dtype == np.int64 and cm[0].tolist() == [1, 0, 0, 0]
    assert cm[1].tolist() == [1, 0, 0, 0] and cm[2:].sum() == 0
    p, r, f = metrics.precision_recall_f1([0, 1], [0, 0], n_classes=4)  # classes 2, 3 never seen
    assert (p, r, f) == pytest.approx((0.25, 0.5, 1 / 3))


def test_scores_are_turned_into_labels():
    assert metrics.predicted_labels(np.array([[0.1, 0.9], [2.0, -1.0]])).tolist() == [1, 0]
    assert metrics.predicted_labels(np.array([[0.7], [0.3]])).tolist() == [1, 0]
    assert metrics.accuracy([1, 0], np.array([[0.1, 0.9], [2.0, -1.0]])) == 1.0
    assert metrics.predicted_labels(np.array([0.5, 0.49, 1.0])).tolist() == [1, 0, 1]
    xor_targets = np.array([[0.0], [1.0], [1.0], [0.0]], np.float32)  # float (N, 1) as for BCE
    assert metrics.accuracy(xor_targets, np.array([[0.2], [0.9], [0.4], [0.1]])) == 0.75


def test_logits_of_a_binary_model_are_refused_not_thresholded():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*sigmoid"):
        metrics.predicted_labels(np.array([-2.0, 0.3, 1.5]))


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


def test_metrics_match_scikit_learn_when_a_class_is_never_predicted():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 4, 100)
    y_pred = np.where(rng.random(100) < 0.7, y_true, rng.integers(0, 4, 100))
    y_pred[y_pred == 3] = 1  # class 3 occurs but is never predicted: its precision is 0/0
    p, r, f = metrics.precision_recall_f1(y_true, y_pred, average="none")
    sk_p, sk_r, sk_f, _ = sk.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    np.testing.assert_allclose(p, sk_p)
    np.testing.assert_allclose(r, sk_r)
    np.testing.assert_allclose(f, sk_f)
    assert p[3] == r[3] == f[3] == 0
    macro = metrics.precision_recall_f1(y_true, y_pred)
    sk_macro = sk.precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)[
        :3
    ]
    assert macro == pytest.approx(sk_macro)


def test_binary_probabilities_match_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y_true, prob = rng.integers(0, 2, 50), rng.random((50, 1))
    labels = (prob[:, 0] >= 0.5).astype(int)
    assert metrics.accuracy(y_true, prob) == pytest.approx(sk.accuracy_score(y_true, labels))
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y_true, prob), sk.confusion_matrix(y_true, labels)
    )


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="3 true labels but 2 predictions"):
        metrics.accuracy([0, 1, 1], [0, 1])


def test_bad_labels_are_an_error():
    with pytest.raises(ValueError, match="y_true has negative labels"):
        metrics.accuracy([0, -1], [0, 1])
    with pytest.raises(ValueError, match="label 3 found but n_classes=3"):
        metrics.confusion_matrix([0, 1], [0, 3], n_classes=3)
    with pytest.raises(ValueError, match="y_true holds non-integer values"):
        metrics.accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="average must be 'macro' or 'none'"):
        metrics.precision_recall_f1([0, 1], [0, 1], average="micro")
