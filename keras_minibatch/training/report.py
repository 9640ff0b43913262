"""What a run tells people: the header, the final metrics, and TensorBoard's HParams."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from callbacks.terminal_lines import pack_lines, terminal_width
from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset


# Where each hyperparameter shows in the header: every field of `TrainConfig` in one group.
HYPERPARAMETER_GROUPS = {
    "data": ("dataset", "test_fraction", "max_train_samples", "validation_split", "seed"),
    "model": ("hidden_units", "activation", "dropout"),
    "optimizer": ("optimizer", "learning_rate", "batch_size"),
    "schedule": (
        "epochs", "early_stopping", "early_stopping_monitor", "early_stopping_patience", "early_stopping_min_delta",
        "early_stopping_mode", "restore_best_weights", "callbacks",
    ),
    "speed": ("steps_per_execution", "jit_compile", "distribution"),
}
_LABEL_WIDTH = 13  # the value column of a block


def format_class_counts(labels: np.ndarray, num_classes: int) -> str:
    """Returns `"0:98 1:101 ..."`, one count per class, zeros included."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    return " ".join(f"{label}:{count}" for label, count in enumerate(counts))


def format_block(fields: Sequence[tuple[str, str]], *, width: int | None = None) -> str:
    """Returns `label: value` lines with the values in one column, each wrapped at its spaces to fit `width`.

    Args:
        fields: `(label, value)` pairs; a label ending in `:` with an empty
            value is a line of its own (a heading).
        width: Most columns per line. Defaults to the terminal's width less
            one (79 where there is no terminal).

    Returns:
        The lines, joined by newlines. A word wider than a line (a long path)
        is cut after one of its `/`.
    """
    width = terminal_width() - 1 if width is None else width
    lines = []
    for label, value in fields:
        first = label if not value else f"{label:<{_LABEL_WIDTH}}"
        lines += pack_lines(value.split(" "), width, first=first, indent=" " * _LABEL_WIDTH, separator=" ")
    return "\n".join(lines)


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
    width: int | None = None,
) -> str:
    """Returns the header printed before training starts, fitted to `width` (see `format_block`)."""
    test_note = "  (carved out, seeded and stratified)" if dataset.test_split_carved else ""
    values = dict(_hparam_items(config))
    fields = [
        ("data:", str(dataset.source)),
        ("input:", f"{tuple(dataset.input_shape)} -> {dataset.num_classes} classes"),
        ("train:", f"{len(y_fit):>6} samples  {format_class_counts(y_fit, dataset.num_classes)}"),
        ("validation:", f"{len(y_validation):>6} samples  {format_class_counts(y_validation, dataset.num_classes)}"),
        ("test:", f"{len(dataset.y_test):>6} samples  {format_class_counts(dataset.y_test, dataset.num_classes)}{test_note}"),
        ("steps/epoch:", f"{steps_per_epoch} (batch_size {config.batch_size})"),
        ("parameters:", f"{trainable_params:,} trainable, {non_trainable_params:,} non-trainable"),
        ("hyperparameters:", ""),
    ]
    for group, keys in HYPERPARAMETER_GROUPS.items():
        items = [f"{key}={values.pop(key)}" for key in keys if key in values]
        fields.append((f"  {group}:", "  ".join(items)))
    if values:  # a field no group names yet (tests/test_training.py asks for one)
        fields.append(("  other:", "  ".join(f"{key}={value}" for key, value in values.items())))
    fields.append(("run folder:", str(workdir)))
    return format_block(fields, width=width)


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
