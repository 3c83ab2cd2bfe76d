"""Classification metrics, from scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy, error count, balanced accuracy, macro-F1, per-class accuracy and the confusion
    matrix (rows: true class, columns: predicted class) of integer predictions. Data without
    some class (a subset scored on its own) leave it out of the averages: balanced accuracy over
    the classes in ``y_true``, macro-F1 over those in ``y_true`` or ``y_pred`` (scikit-learn's
    own choice), and its per-class accuracy is None, not 0."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(n_classes))
    present = set(np.unique(y_true).tolist())
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "errors": int((y_true != y_pred).sum()),
        # balanced accuracy is the mean recall over the classes in y_true, as scikit-learn's
        # balanced_accuracy_score, which warns where y_pred has others (a subset scored alone)
        "balanced_accuracy": float(np.mean([recall[k] for k in sorted(present)])),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "per_class_accuracy": [float(v) if k in present else None for k, v in enumerate(recall)],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
