"""The yardstick the CNN must beat: a linear classifier on the raw pixels."""

from __future__ import annotations

import numpy as np

from gdsim import _validate

__all__ = ["linear_baseline"]


def linear_baseline(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                    steps: int = 300, lr: float = 0.5, l2: float = 1e-3) -> dict[str, float]:
    """A linear classifier on the raw pixels, the yardstick the CNN must beat: softmax
    regression ``p = softmax(z W + b)`` on standardised pixels ``z`` (``(m, d)``, d = H*W*C),
    full-batch gradient descent on ``mean CE + l2/2 ||W||^2`` for ``steps`` steps. Returns
    train/validation accuracy and loss (float64)."""
    steps = _validate.integer("steps", steps, minimum=1)
    a = np.asarray(x, np.float64).reshape(len(x), -1)
    mu, sd = a.mean(axis=0), a.std(axis=0) + 1e-8
    z = (a - mu) / sd
    zv = (np.asarray(x_val, np.float64).reshape(len(x_val), -1) - mu) / sd
    t, tv = np.asarray(y, np.float64), np.asarray(y_val, np.float64)
    w = np.zeros((z.shape[1], t.shape[1]))
    b = np.zeros(t.shape[1])

    def probs(features: np.ndarray) -> np.ndarray:
        logits = features @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    for _ in range(steps):
        d = (probs(z) - t) / len(z)
        w -= lr * (z.T @ d + l2 * w)
        b -= lr * d.sum(axis=0)

    def score(features, targets):
        p = probs(features)
        return (float(np.mean(p.argmax(1) == targets.argmax(1))),
                float(-np.mean(np.sum(targets * np.log(np.clip(p, 1e-7, 1)), axis=1))))
    (acc, loss), (val_acc, val_loss) = score(z, t), score(zv, tv)
    return {"accuracy": acc, "loss": loss, "val_accuracy": val_acc, "val_loss": val_loss}
