"""What a run tells people: the header, the final metrics, and TensorBoard's HParams."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset


def format_class_counts(labels: np.ndarray, num_classes: int) -> str:
    """Returns `"0:98 1:101 ..."`, one count per class, zeros included."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    return " ".join(f"{label}:{count}" for label, count in enumerate(counts))


def format_run_header(
    config: TrainConfig,
    dataset: Dataset,
    *,
    y_fit: np.ndarray,
    y_validation: np.ndarray,
    steps_per_epoch: int,
    trainable_params: int,
    non_trainable_params: int,
    workdir: str | os.PathLike,
) -> str:
    """Returns the multi-line header printed before training starts."""
    test_note = " (carved out, seeded and stratified)" if dataset.test_split_carved else ""
    lines = [
        f"data:        {dataset.source}",
        f"input:       {tuple(dataset.input_shape)} -> {dataset.num_classes} classes",
        f"train:       {len(y_fit):>6} samples  {format_class_counts(y_fit, dataset.num_classes)}",
        f"validation:  {len(y_validation):>6} samples  {format_class_counts(y_validation, dataset.num_classes)}",
        f"test:        {len(dataset.y_test):>6} samples  {format_class_counts(dataset.y_test, dataset.num_classes)}{test_note}",
        f"steps/epoch: {steps_per_epoch} (batch_size {config.batch_size})",
        f"parameters:  {trainable_params:,} trainable, {non_trainable_params:,} non-trainable",
        "hyperparameters: " + ", ".join(f"{key}={value}" for key, value in _hparam_items(config)),
        f"run folder:  {workdir}",
    ]
    return "\n".join(lines)


def format_test_metrics(test_metrics: Mapping[str, float]) -> str:
    """Returns `"test: loss 0.1234  accuracy 0.9650"`."""
    parts = [f"{name.removeprefix('test_')} {value:.4f}" for name, value in test_metrics.items()]
    return "test:  " + "  ".join(parts)


def _hparam_items(config: TrainConfig) -> list[tuple[str, object]]:
    items = []
    for key, value in config.to_dict().items():
        if key in ("callbacks",) and not value:
            continue
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        items.append((key, value))
    return items


def hparams_dict(config: TrainConfig) -> dict[str, bool | int | float | str]:
    """Returns the config as TensorBoard HParams values (lists joined into strings)."""
    values: dict[str, bool | int | float | str] = {}
    for key, value in _hparam_items(config):
        values[key] = "" if value is None else value
    return values


def write_hparams(logdir: str | os.PathLike, config: TrainConfig, *, run_name: str) -> None:
    """Records the run's hyperparameters for TensorBoard's HParams dashboard."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams_api

    Path(logdir).mkdir(parents=True, exist_ok=True)
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        hparams_api.hparams(hparams_dict(config), trial_id=run_name)
    writer.close()


def write_test_scalars(logdir: str | os.PathLike, test_metrics: Mapping[str, float], *, step: int) -> None:
    """Writes the test metrics as scalars beside the HParams record, so HParams shows them."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        for name, value in test_metrics.items():
            tf.summary.scalar(name, value, step=step)
    writer.close()
