"""Trains the MLP with `model.fit`, scores the test split once, and saves the run."""

from __future__ import annotations

import dataclasses
import math
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

import callbacks as minibatch_callbacks
from keras_minibatch import multi_worker, plots, report, run_files, rundir
from keras_minibatch.checkpointing import CHECKPOINT_DIR, TrainingCheckpoint, load_checkpoint, restore_weights, weights_are_finite
from keras_minibatch.config import TrainConfig
from keras_minibatch.data import Dataset, data_fingerprint, load_dataset_for, num_fit_rows, stratified_validation_order, test_split_fingerprint
from keras_minibatch.epoch_scalars import EpochScalars
from keras_minibatch.folder_claim import FolderClaim
from keras_minibatch.fused_steps import fuse_train_steps
from keras_minibatch.input_pipeline import fit_inputs
from keras_minibatch.model import build_mlp_for, count_parameters
from keras_minibatch.plugins import load_callback
# File names inside a run folder (defined in run_files); other modules and tests read them here too.
from keras_minibatch.run_files import (
    CONFIG_FILE,
    CONFUSION_MATRIX_PLOT,
    EPOCH_LOG_FILE,
    HISTORY_CSV,
    HISTORY_JSON,
    LEARNING_CURVES_PLOT,
    METRICS_FILE,
    MODEL_FILE,
    TENSORBOARD_DIR,
)
from keras_minibatch.termination_callback import RaiseWhenTerminated


@dataclasses.dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        history: Per-epoch metrics, `{"loss": [...], "val_accuracy": [...], ...}`.
        test_metrics: The test split scored once, `{"test_loss": ..., "test_accuracy": ...}`.
        workdir: The run folder holding the saved files.
        model: The trained model (best weights when early stopping restored them).
        stop_reason: Why early stopping stopped training, or `None`.
    """

    history: dict[str, list[float]]
    test_metrics: dict[str, float]
    workdir: Path
    model: keras.Model
    stop_reason: str | None = None


def library_versions() -> dict[str, str]:
    """Returns the versions that decide a run's numbers, for `config.json`."""
    import importlib.metadata
    import platform

    import tensorflow as tf

    from keras_minibatch import __version__

    return {
        "keras_minibatch": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        # Read from the installed package: importing KerasTuner costs `train` 16 MB.
        "keras_tuner": importlib.metadata.version("keras-tuner"),
        "numpy": np.__version__,
    }


def make_strategy(distribution: str) -> Any:
    """Returns the `tf.distribute` strategy named by `TrainConfig.distribution`."""
    import tensorflow as tf

    if distribution == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribution == "multi_worker":
        multi_worker.check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def split_for_validation(dataset: Dataset, config: TrainConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Orders the training rows so Keras' `validation_split` (which takes the *last*
    rows) holds out a seeded, stratified sample.

    Returns:
        `(x, y, num_fit_samples)`: reordered training arrays and the number of rows
        `fit` trains on.
    """
    order = stratified_validation_order(dataset.y_train, validation_split=config.validation_split, seed=config.seed)
    num_fit_samples = num_fit_rows(len(order), config.validation_split)
    return dataset.x_train[order], dataset.y_train[order], num_fit_samples


def _to_tensor(array: np.ndarray) -> Any:
    """Returns `array` as a TensorFlow tensor under that backend (else unchanged)."""
    if keras.backend.backend() != "tensorflow":
        return array
    import tensorflow as tf

    return tf.convert_to_tensor(array)


class DivergenceError(RuntimeError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""


def make_early_stopping(config: TrainConfig) -> minibatch_callbacks.EarlyStopping | None:
    """Returns the run's early stopping callback, or `None` when it is off."""
    if not config.early_stopping:
        return None
    return minibatch_callbacks.EarlyStopping(
        monitor=config.early_stopping_monitor,
        min_delta=config.early_stopping_min_delta,
        patience=config.early_stopping_patience,
        mode=config.early_stopping_mode,
        restore_best_weights=config.restore_best_weights,
        verbose=0,
    )


def _keep_epoch_log_lines(path: Path, epochs_done: int) -> None:
    """Drops epoch-log lines written after the checkpoint a resumed run starts from."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if line.strip() and json.loads(line).get("epoch", 0) <= epochs_done]
    rundir.write_text_atomic(path, "".join(kept))


def train_and_evaluate(
    config: TrainConfig,
    workdir: str | os.PathLike,
    *,
    dataset: Dataset | None = None,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    overwrite: bool = False,
    resume: bool = False,
    verbose: int = 1,
    progress_bar: bool = False,
    progress_interval: float = 10.0,
    print_fn: Callable[[str], Any] = print,
) -> TrainResult:
    """Trains `config`'s model, scores the test split once and saves the run folder.

    The training rows are reordered (seeded, stratified) so `validation_split`
    holds out every class; `fit` never sees the test split, which `evaluate`
    scores once at the end. The folder receives `model.keras`, `history.csv`,
    `history.json`, `metrics.json`, `config.json`, `epochs.jsonl`, plots,
    TensorBoard logs under `tensorboard/` and a per-epoch `checkpoint/` that a
    killed run resumes from.

    Args:
        config: The hyperparameters.
        workdir: The run folder; created if missing. A folder that already holds
            files is refused unless `overwrite` or `resume`.
        dataset: Already loaded data; by default loads `config.dataset`.
        extra_callbacks: More callbacks for `fit`, after the run's own.
        overwrite: Whether to replace an existing run folder's contents.
            Defaults to `False`.
        resume: Whether to continue the unfinished run in `workdir` from its
            last completed epoch (same configuration; `epochs` may grow).
            Defaults to `False`.
        verbose: `0` prints nothing; `1` prints the header, one line per
            epoch and the test metrics. Defaults to `1`.
        progress_bar: Whether to show Keras' per-batch progress bar (for a
            terminal). Defaults to `False`: then an epoch longer than
            `progress_interval` seconds prints progress lines with time left.
        progress_interval: Seconds between progress lines. Defaults to `10.0`.
        print_fn: Receives each printed line. Defaults to `print`.

    Returns:
        A `TrainResult`.

    Raises:
        RunDirError: when `workdir` holds an earlier run (and neither `overwrite`
            nor `resume`), or a different or finished run to resume.
        FolderLockedError: when another live process is using `workdir`.
        DataError: when the data source is missing or malformed.
        DivergenceError: when the loss or the weights become NaN or infinite.
        ClusterConfigError: for `distribution="multi_worker"` without a
            usable `TF_CONFIG`.
        CorruptCheckpointError: when the checkpoint to resume from is damaged.
    """
    if resume and overwrite:
        raise ValueError("`resume` and `overwrite` exclude each other: resume continues the run, overwrite deletes it.")
    # The folder is locked before anything in it changes; an overwritten run's files go only once the new data loaded.
    with FolderClaim(workdir, run_files.RUN, overwrite=overwrite, resume=resume) as claim:
        if resume:
            rundir.check_resumable_run(config, claim.path)
        return _train_in_folder(
            config, claim.path, claim=claim, dataset=dataset, extra_callbacks=extra_callbacks, resume=resume,
            verbose=verbose, progress_bar=progress_bar, progress_interval=progress_interval, print_fn=print_fn,
        )


def _check_same_data(workdir: Path, fingerprint: dict[str, Any]) -> None:
    """Refuses to resume a run on data other than those it trained on (by content, not only by path)."""
    try:
        recorded = json.loads((workdir / CONFIG_FILE).read_text(encoding="utf-8")).get("data")
    except (OSError, ValueError, AttributeError):
        return  # `check_resumable_run` has read it already; a run from before data fingerprints has none.
    if isinstance(recorded, dict) and recorded.get("sha256") not in (None, fingerprint["sha256"]):
        raise rundir.RunDirError(
            f"--dataset {fingerprint['source']!r} does not hold the data the run in {str(workdir)!r} trained on "
            f"({recorded.get('source')!r}, {recorded.get('train_samples')} training and {recorded.get('test_samples')} test rows, "
            f"sha256 {str(recorded.get('sha256'))[:12]}...; now {fingerprint['train_samples']} and {fingerprint['test_samples']} rows, "
            f"sha256 {fingerprint['sha256'][:12]}...); resume with the run's data, or start a new run."
        )


def _train_in_folder(
    config: TrainConfig,
    workdir: Path,
    *,
    claim: FolderClaim,
    dataset: Dataset | None,
    extra_callbacks: Sequence[keras.callbacks.Callback],
    resume: bool,
    verbose: int,
    progress_bar: bool,
    progress_interval: float,
    print_fn: Callable[[str], Any],
) -> TrainResult:
    strategy = make_strategy(config.distribution)
    keras.utils.set_random_seed(config.seed)
    checkpoint = load_checkpoint(workdir / CHECKPOINT_DIR) if resume else None
    if dataset is None:
        dataset = load_dataset_for(config)
    data_record = {**data_fingerprint(dataset), "test_sha256": test_split_fingerprint(dataset)}
    if resume:
        _check_same_data(workdir, data_record)
    claim.clear_previous()  # An overwritten run's files go only now that the new run's data loaded.
    x_train, y_train, num_fit_samples = split_for_validation(dataset, config)
    # The rows `validation_split` would take (the last ones), handed to `fit` as tensors
    # of their own: given NumPy arrays, `fit` copies them into tensors and keeps both
    # for the whole run, and Keras' own split of a tensor copies it again. Dropping the
    # NumPy rows here (`dataset` keeps none) leaves the pixels in memory once while
    # `fit` runs: 47 MB less for 60,000 MNIST images (a caller's own arrays stay theirs).
    fit_x, validation_x = _to_tensor(x_train[:num_fit_samples]), _to_tensor(x_train[num_fit_samples:])
    y_fit, y_validation = y_train[:num_fit_samples], y_train[num_fit_samples:]
    # From here on `dataset` has no training rows (zero-row arrays keep the image
    # shape): they are `fit_x`/`y_fit` and `validation_x`/`y_validation`.
    dataset = dataclasses.replace(dataset, x_train=x_train[:0].copy(), y_train=y_train[:0].copy())
    del x_train, y_train
    # One process, one replica: fused updates split its batch, and the rows can be
    # datasets (under a strategy Keras' own steps_per_execution runs, and a dataset
    # would be sharded across workers where arrays are not).
    fused = config.distribution == "none"
    with strategy.scope():
        model = build_mlp_for(config, dataset.input_shape, dataset.num_classes, fused_steps=fused)
        if config.distribution == "multi_worker":
            multi_worker.prepare_model(model, strategy)
        if checkpoint is not None:
            restore_weights(model, checkpoint)
    # `fit` gets `steps_per_execution` mini-batches per call (at most an epoch's), one update per `batch_size` rows.
    fit_batch_size = (
        fuse_train_steps(model, batch_size=config.batch_size, steps_per_execution=config.steps_per_execution, epoch_rows=num_fit_samples)
        if fused else config.batch_size
    )
    initial_epoch = checkpoint.epochs_done if checkpoint else 0
    trainable, non_trainable = count_parameters(model)
    rundir.write_json_atomic(workdir / CONFIG_FILE, {"config": config.to_dict(), "data_source": dataset.source, "data": data_record, "versions": library_versions()})
    if verbose:
        header = report.format_run_header(
            config,
            dataset,
            y_fit=y_fit,
            y_validation=y_validation,
            steps_per_epoch=math.ceil(num_fit_samples / config.batch_size),
            trainable_params=trainable,
            non_trainable_params=non_trainable,
            workdir=workdir,
        )
        print_fn(header)
        if resume:
            print_fn(f"resuming after epoch {initial_epoch} of {config.epochs}" if checkpoint else "resuming: no epoch had finished, starting from epoch 1")
    if not resume:
        report.write_hparams(workdir / TENSORBOARD_DIR, config, run_name=workdir.name)
    else:
        _keep_epoch_log_lines(workdir / EPOCH_LOG_FILE, initial_epoch)

    early_stopping = make_early_stopping(config)
    if early_stopping is not None and checkpoint is not None and checkpoint.early_stopping is not None:
        early_stopping.set_state(checkpoint.early_stopping, checkpoint.best_weights)
    divergence_guard = minibatch_callbacks.StopOnNonFiniteLoss()
    saver = TrainingCheckpoint(workdir / CHECKPOINT_DIR, history_before=checkpoint.history if checkpoint else None, early_stopping=early_stopping)
    epoch_logger = minibatch_callbacks.EpochMetricsLogger(str(workdir / EPOCH_LOG_FILE), num_samples=num_fit_samples, verbose=1 if verbose else 0, append=resume)
    run_callbacks = [
        epoch_logger,
        # Keras' TensorBoard callback would add a no-op hook to every call (see EpochScalars).
        EpochScalars(workdir / TENSORBOARD_DIR),
        *([early_stopping] if early_stopping else []),
        *(load_callback(spec) for spec in config.callbacks),
        divergence_guard,
        # Where a long epoch is, as whole lines, when there is no progress bar (a log, a pipe).
        *([] if progress_bar or not verbose else [minibatch_callbacks.ProgressLogger(interval=progress_interval)]),
        saver,  # Last of ours but one: it saves the state the others reached this epoch.
        RaiseWhenTerminated(),  # A SIGTERM whose exception was lost still stops the run, after the save.
        *extra_callbacks,
    ]
    if fused:
        # Endless pipelines: one training iterator for the run, not one per epoch (see input_pipeline).
        inputs = fit_inputs(fit_x, y_fit, validation_x, y_validation, batch_size=fit_batch_size, seed=config.seed, first_epoch=initial_epoch).fit_arguments()
    else:
        # The rows `validation_split=config.validation_split` would take, as arrays for the strategy to split.
        inputs = {"x": fit_x, "y": y_fit, "batch_size": fit_batch_size, "validation_data": (validation_x, y_validation), "shuffle": True}
    try:
        model.fit(
            **inputs,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            callbacks=run_callbacks,
            verbose=1 if progress_bar else 0,
        )
    finally:
        epoch_logger.close()  # An interrupted fit() skips on_train_end.
    history_dict = saver.history
    rundir.write_history_csv_atomic(workdir / HISTORY_CSV, history_dict)
    rundir.write_json_atomic(workdir / HISTORY_JSON, history_dict)
    last_good = f"epoch {saver.last_saved_epoch + 1}" if saver.last_saved_epoch is not None else "none"
    if divergence_guard.stop_reason or not weights_are_finite(model.get_weights()):
        reason = divergence_guard.stop_reason or "the weights became NaN or infinite"
        raise DivergenceError(
            f"training diverged: {reason}; the last good checkpoint ({last_good}) is kept in "
            f"{str(workdir / CHECKPOINT_DIR)!r}; try a smaller --learning_rate"
        )
    stop_reason = early_stopping.stop_reason if early_stopping else None

    # The one and only look at the test split.
    scores = model.evaluate(dataset.x_test, dataset.y_test, batch_size=max(config.batch_size, 256), verbose=0, return_dict=True)
    test_metrics = {f"test_{name}": float(value) for name, value in scores.items()}
    # Predictions on the split just scored, for the confusion matrix.
    test_predictions = np.argmax(model.predict(dataset.x_test, batch_size=max(config.batch_size, 256), verbose=0), axis=1)
    report.write_test_scalars(workdir / TENSORBOARD_DIR, test_metrics, step=len(history_dict.get("loss", [])))

    with rundir.atomic_path(workdir / MODEL_FILE) as temp_model_path:
        model.save(temp_model_path)
    plots.plot_learning_curves(history_dict, workdir / LEARNING_CURVES_PLOT)
    plots.plot_confusion_matrix(dataset.y_test, test_predictions, dataset.num_classes, workdir / CONFUSION_MATRIX_PLOT, title="Confusion matrix, test split")
    rundir.write_json_atomic(
        workdir / METRICS_FILE,
        {**test_metrics, "epochs_run": len(history_dict.get("loss", [])), "stop_reason": stop_reason},
    )
    if verbose:
        if stop_reason:
            print_fn(f"early stopping: {stop_reason}")
        print_fn(report.format_test_metrics(test_metrics))
        print_fn(f"run folder: {workdir}")
    return TrainResult(history=history_dict, test_metrics=test_metrics, workdir=workdir, model=model, stop_reason=stop_reason)
