"""A batch-size comparison's curves as TensorBoard scalars, one TensorBoard run per regime.

TensorBoard draws every scalar against an integer step, so each curve is written
twice: against optimizer updates (`val_loss_vs_updates`), where full batch and
SGD differ by thousands of times, and against milliseconds of training
(`val_loss_vs_training_ms`), the comparison the budget is about. Each regime's
test scores come last, at its final update. The runs are named `batch_<label>`
(`batch_full`, `batch_1`, `batch_32`), so TensorBoard overlays them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from keras_minibatch.batch_sizes.results import ComparisonResult

__all__ = ["write_curves"]


def write_curves(result: ComparisonResult, logdir: Path) -> None:
    """Writes every regime's curve and test scores under `logdir`, replacing what an earlier write left there."""
    import tensorflow as tf

    shutil.rmtree(logdir, ignore_errors=True)  # Ours alone: every regime is written again below.
    for regime in result.regimes:
        writer = tf.summary.create_file_writer(str(logdir / f"batch_{regime.label}"))
        with writer.as_default():
            for point in regime.curve:
                for name in ("val_loss", "val_accuracy"):
                    value = getattr(point, name)
                    tf.summary.scalar(f"{name}_vs_updates", value, step=point.updates)
                    tf.summary.scalar(f"{name}_vs_training_ms", value, step=round(point.seconds * 1000))
            tf.summary.scalar("test_loss", regime.test_loss, step=regime.updates)
            tf.summary.scalar("test_accuracy", regime.test_accuracy, step=regime.updates)
        writer.close()
