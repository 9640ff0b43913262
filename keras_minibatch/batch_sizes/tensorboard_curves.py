"""A batch-size comparison's curves as TensorBoard scalars, one TensorBoard run per regime.

TensorBoard draws every scalar against an integer step, so each curve is written
twice: against optimizer updates (`val_loss_vs_updates`), where SGD makes as
many updates per epoch as there are training rows and full batch one, and
against milliseconds of training (`val_loss_vs_training_ms`), the comparison the
budget is about; two points within one millisecond get consecutive steps, as
TensorBoard drops a point whose step does not increase. Each regime's
test scores come last, at its final update. The runs are named `batch_<label>`
(`batch_full`, `batch_1`, `batch_32`), so TensorBoard overlays them.
"""

from __future__ import annotations

from pathlib import Path

from keras_minibatch.batch_sizes.results import ComparisonResult

__all__ = ["write_curves"]


def write_curves(result: ComparisonResult, logdir: Path) -> None:
    """Writes every regime's curve and test scores under `logdir`."""
    import tensorflow as tf

    for regime in result.regimes:
        writer = tf.summary.create_file_writer(str(logdir / f"batch_{regime.label}"))
        try:
            with writer.as_default():
                last_ms = -1
                for point in regime.curve:
                    training_ms = max(round(point.seconds * 1000), last_ms + 1)
                    last_ms = training_ms
                    for name in ("val_loss", "val_accuracy"):
                        value = getattr(point, name)
                        tf.summary.scalar(f"{name}_vs_updates", value, step=point.updates)
                        tf.summary.scalar(f"{name}_vs_training_ms", value, step=training_ms)
                tf.summary.scalar("test_loss", regime.test_loss, step=regime.updates)
                tf.summary.scalar("test_accuracy", regime.test_accuracy, step=regime.updates)
        finally:
            writer.close()
