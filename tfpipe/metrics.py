"""Classification metrics computed from labels and predictions (pure NumPy).

Conventions: a confusion matrix ``cm`` has rows = true class and columns =
predicted class, ``cm[i, j]`` = number of examples of class ``i`` predicted as
``j``.  Accuracy is ``trace(cm) / sum(cm)``; the paper reports the test error
in percent, ``100 * (1 - accuracy)``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """``int64[num_classes, num_classes]`` counts; labels outside ``[0, num_classes)`` are an error."""
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} has labels outside [0, {num_classes})")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def accuracy(cm: np.ndarray) -> float:
    """Fraction of examples on the diagonal (0.0 for an empty matrix)."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def error_pct(cm: np.ndarray) -> float:
    """Test error in percent, as the paper's tables report it."""
    return 100.0 * (1.0 - accuracy(cm))


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Per true class, the fraction predicted correctly (recall); NaN for a class with no examples."""
    support = cm.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def row_normalized(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows of a class with no examples stay 0)."""
    support = cm.sum(axis=1, keepdims=True).astype(np.float64)
    return cm / np.maximum(support, 1)


def summary(cm: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, error %, per-class accuracy (by name, None when a class is absent) and the matrix."""
    if cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion matrix {cm.shape} does not match {len(class_names)} class names")
    per_class = per_class_accuracy(cm)
    return {
        "accuracy": accuracy(cm),
        "error_pct": error_pct(cm),
        "num_examples": int(cm.sum()),
        "class_names": list(class_names),
        "per_class_accuracy": {
            name: (None if np.isnan(a) else float(a)) for name, a in zip(class_names, per_class)
        },
        "class_counts": {name: int(n) for name, n in zip(class_names, cm.sum(axis=1))},
        "confusion_matrix": cm.astype(int).tolist(),
    }
