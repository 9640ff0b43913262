"""`train_and_evaluate`: a run folder, its data, the training core (`core.Trainer`), the saved run."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras

from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.data.fingerprints import data_fingerprint, test_split_fingerprint
from keras_minibatch.data.loading import load_dataset_for
from keras_minibatch.plots.plot_process import PlotProcess
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.folder_claim import FolderClaim
from keras_minibatch.run_folders.run_files import CHECKPOINT_DIR, EPOCH_LOG_FILE, RUN_FAILURE_FILE, TENSORBOARD_DIR
from keras_minibatch.training import report
from keras_minibatch.training import saved_run
from keras_minibatch.training.checkpointing import load_checkpoint
from keras_minibatch.training.core import Trainer
from keras_minibatch.training.distribution import start_distribution
from keras_minibatch.training.model import count_parameters
from keras_minibatch.training.plugins import load_callback, plugin_failures_named
from keras_minibatch.training.run_timings import EpochClock, RunClock
from keras_minibatch.training.validation_rows import held_out_rows


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


class DivergenceError(RuntimeError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""


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
    holds out every class; `fit` never sees the test split, which is scored
    once at the end (`Trainer.score_test_split`). The folder receives `model.keras`, `history.csv`,
    `history.json`, `metrics.json`, `config.json` (with the XLA choice
    `jit_compile="auto"` made), `epochs.jsonl`, plots, `timings.json` (seconds
    per phase, `run_timings`), TensorBoard logs under `tensorboard/` and a
    per-epoch `checkpoint/` that a killed run resumes from.

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
        progress_bar: Whether to show a live line of each epoch's mini-batch
            updates (for a terminal: `callbacks.ProgressBar`), and the epoch
            lines wrapped to its width. Defaults to `False`: then an epoch longer than
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
        CallbackFailedError: when a `config.callbacks` plug-in raises during
            training; its traceback is in the folder's `failure.txt`.
    """
    if resume and overwrite:
        raise ValueError("`resume` and `overwrite` exclude each other: resume continues the run, overwrite deletes it.")
    # The folder is locked before anything in it changes; an overwritten run's files go only once the new data loaded.
    with FolderClaim(workdir, run_files.RUN, overwrite=overwrite, resume=resume) as claim:
        if resume:
            config = rundir.check_resumable_run(config, claim.path)  # `auto` keeps the run's XLA choice.
        with PlotProcess() as plots:  # Started now: it imports matplotlib while the run trains.
            return _train_in_folder(
                config, claim.path, claim=claim, plots=plots, dataset=dataset, extra_callbacks=extra_callbacks, resume=resume,
                verbose=verbose, progress_bar=progress_bar, progress_interval=progress_interval, print_fn=print_fn,
            )


def _train_in_folder(
    config: TrainConfig,
    workdir: Path,
    *,
    claim: FolderClaim,
    plots: PlotProcess,
    dataset: Dataset | None,
    extra_callbacks: Sequence[keras.callbacks.Callback],
    resume: bool,
    verbose: int,
    progress_bar: bool,
    progress_interval: float,
    print_fn: Callable[[str], Any],
) -> TrainResult:
    clock = RunClock()
    strategy = start_distribution(config)  # First: a multi-worker strategy must precede any TensorFlow work.
    checkpoint = load_checkpoint(workdir / CHECKPOINT_DIR) if resume else None
    for spec in config.callbacks:
        load_callback(spec)  # A broken plug-in fails now, before anything in the folder changes.
    with clock.phase("data"):
        if dataset is None:
            dataset = load_dataset_for(config)
        data_record = {**data_fingerprint(dataset), "test_sha256": test_split_fingerprint(dataset)}
    if resume:
        saved_run.check_same_data(workdir, data_record)
    claim.clear_previous()  # An overwritten run's files go only now that the new run's data loaded.
    with clock.phase("data"):
        dataset, fit_rows, validation_rows = held_out_rows(dataset, config)
    with clock.phase("build"):
        trainer = Trainer(config, input_shape=dataset.input_shape, num_classes=dataset.num_classes, epoch_rows=len(fit_rows[1]), checkpoint=checkpoint, strategy=strategy)
    config = config.replace(jit_compile=trainer.jit_compile)  # What `auto` chose, for config.json: a resume makes the same choice.
    initial_epoch = checkpoint.epochs_done if checkpoint else 0
    saved_run.write_run_config(workdir, config, data_source=dataset.source, data_record=data_record)
    if verbose:
        trainable, non_trainable = count_parameters(trainer.model)
        print_fn(report.format_run_header(
            config, dataset, y_fit=fit_rows[1], y_validation=validation_rows[1], steps_per_epoch=math.ceil(len(fit_rows[1]) / config.batch_size),
            trainable_params=trainable, non_trainable_params=non_trainable, workdir=workdir,
        ))
        if resume:
            print_fn(f"resuming after epoch {initial_epoch} of {config.epochs}" if checkpoint else "resuming: no epoch had finished, starting from epoch 1")
    if not resume:
        report.write_hparams(workdir / TENSORBOARD_DIR, config, run_name=workdir.name)
    else:
        saved_run.keep_epoch_log_lines(workdir / EPOCH_LOG_FILE, initial_epoch)
    epoch_clock, training_started = EpochClock(), time.perf_counter()
    (workdir / RUN_FAILURE_FILE).unlink(missing_ok=True)  # A resumed run's earlier plug-in failure is history.
    with plugin_failures_named(workdir / RUN_FAILURE_FILE, plugins=bool(config.callbacks)):
        outcome = trainer.train(
            fit_rows, validation_rows, epochs=config.epochs, initial_epoch=initial_epoch, checkpoint=checkpoint,
            checkpoint_dir=workdir / CHECKPOINT_DIR, epoch_log=workdir / EPOCH_LOG_FILE, print_epochs=bool(verbose),
            tensorboard_dir=workdir / TENSORBOARD_DIR, progress_interval=None if progress_bar or not verbose else progress_interval,
            extra_callbacks=[*extra_callbacks, epoch_clock], progress_bar=progress_bar and bool(verbose),
        )
    clock.record_training(training_started, time.perf_counter(), epoch_clock)
    del fit_rows, validation_rows  # The training rows' memory goes before scoring and saving.
    with clock.phase("save"):
        saved_run.write_history(workdir, outcome.history)
    if outcome.divergence:
        last_good = f"epoch {outcome.last_saved_epoch + 1}" if outcome.last_saved_epoch is not None else "none"
        raise DivergenceError(
            f"training diverged: {outcome.divergence}; the last good checkpoint ({last_good}) is kept in "
            f"{str(workdir / CHECKPOINT_DIR)!r}; try a smaller --learning_rate"
        )
    saved_run.draw_learning_curves(plots, workdir, outcome.history)  # Drawn while the test split is scored.
    with clock.phase("evaluate"):
        scores = trainer.score_test_split(dataset.x_test, dataset.y_test)  # The one and only look at the test split.
    test_metrics = scores.metrics
    saved_run.draw_confusion_matrix(plots, workdir, dataset, scores.predicted_labels)
    with clock.phase("save"):
        saved_run.save_results(trainer.model, outcome.history, test_metrics, workdir)
    with clock.phase("plots"):
        plots.finish()
    saved_run.write_timings(workdir, clock.summary())
    saved_run.write_metrics(workdir, outcome.history, test_metrics, stop_reason=outcome.stop_reason)
    if verbose:
        if outcome.stop_reason:
            print_fn(f"early stopping: {outcome.stop_reason}")
        print_fn(report.format_test_metrics(test_metrics))
        print_fn(f"run folder: {workdir}")
    return TrainResult(history=outcome.history, test_metrics=test_metrics, workdir=workdir, model=trainer.model, stop_reason=outcome.stop_reason)
