"""Full-batch gradient descent vs SGD vs mini-batch: the same model, measured side by side.

Every regime starts from the same initial weights (drawn once from `seed`) and
trains on the same rows under the same budget (epochs, wall seconds, or both).
The validation rows are scored at every epoch end and, where one epoch holds
many updates or the budget is in seconds, at regular points in between, so the
loss can be drawn against epochs, updates and training seconds. The test split
is scored once per regime, at its end.

Timing counts training only: each regime's compiled functions are traced (and
XLA-compiled) before its clock starts, and the clock pauses while the
validation rows are scored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from keras_minibatch.batch_sizes import config as compare_config
from keras_minibatch.batch_sizes import report as compare_report
from keras_minibatch.batch_sizes.regime_clock import UNBOUNDED_EPOCHS, RegimeClock
from keras_minibatch.batch_sizes.results import ComparisonResult, RegimeResult
from keras_minibatch.config import JIT_COMPILE_AUTO, TrainConfig
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.data.loading import load_dataset_for
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders.folder_claim import FolderClaim
from keras_minibatch.training.core import Trainer
from keras_minibatch.training.scoring import score_rows
from keras_minibatch.training.termination_callback import RaiseOnStopRequest
from keras_minibatch.training.validation_rows import split_for_validation

# Curve points per epoch for regimes with many updates per epoch, and per
# seconds budget.
_POINTS_PER_EPOCH = 10
_POINTS_PER_BUDGET = 20
_EVALUATION_ROWS = 8192  # Validation rows per forward pass, to bound memory.


def compare_batch_sizes(
    train_config: TrainConfig,
    batch_sizes: Sequence[compare_config.BatchSize],
    workdir: str | os.PathLike,
    *,
    budget_epochs: int | None,
    budget_seconds: float | None,
    dataset: Dataset | None = None,
    overwrite: bool = False,
    print_fn: Callable[[str], Any] = print,
) -> ComparisonResult:
    """Trains `train_config`'s model once per batch size and writes the comparison.

    Writes `comparison.csv` (one row per regime), `curves.csv` (every curve
    point), `comparison.json` (everything), the plots `loss_vs_epoch.png`,
    `loss_vs_updates.png` and `loss_vs_seconds.png` and `tensorboard/` (one run
    per regime) into `workdir`, and prints progress and the table through `print_fn`.

    Args:
        train_config: Data, model, optimizer, seed and `validation_split`; its
            `epochs` and `batch_size` are replaced by the budget and `batch_sizes`.
        batch_sizes: `"full"` (all training rows) and integers >= 1, e.g. the
            output of `compare_config.parse_batch_sizes("full,1,32")`.
        workdir: Output folder; created if missing. One that holds files is
            refused unless `overwrite`.
        budget_epochs: Epochs per regime, or `None`.
        budget_seconds: Training seconds per regime, or `None`. With both,
            each regime stops at whichever comes first (mid-epoch for seconds).
        dataset: Already loaded data; by default loads `train_config.dataset`.
        overwrite: Whether to replace `workdir`'s contents. Defaults to `False`.
        print_fn: Receives progress lines and the table. Defaults to `print`.

    Returns:
        A `ComparisonResult`.

    Raises:
        ConfigError: for bad `batch_sizes` or budgets.
        RunDirError: when `workdir` holds files and `overwrite` is false.
        DataError: when the data source is missing or malformed.
    """
    batch_sizes = compare_config.parse_batch_sizes(batch_sizes)
    compare_config.check_budget(budget_epochs, budget_seconds)
    compare_config.check_train_config(train_config)
    with FolderClaim(workdir, run_files.BATCH_SIZE_COMPARISON, overwrite=overwrite) as claim:
        workdir = claim.path
        if dataset is None:
            dataset = load_dataset_for(train_config)
        claim.clear_previous()  # An overwritten comparison's files go only now that the data loaded.
        x_train, y_train, num_fit = split_for_validation(dataset, train_config)
        x_fit, y_fit = x_train[:num_fit], y_train[:num_fit]
        x_val, y_val = x_train[num_fit:], y_train[num_fit:]

        regimes: list[RegimeResult] = []

        def comparison() -> ComparisonResult:
            return ComparisonResult(
                regimes=regimes, num_fit_samples=num_fit, num_validation_samples=len(y_val),
                budget_epochs=budget_epochs, budget_seconds=budget_seconds, workdir=workdir,
            )

        trained: dict[int, str] = {}
        for label in batch_sizes:
            batch_size = compare_config.resolve_batch_size(label, num_fit)
            if batch_size in trained:  # e.g. 100000 and full on 270 rows: one regime, trained once
                print_fn(f"batch {label} is the same regime as {trained[batch_size]} on {num_fit:,} training rows (batch {batch_size:,}); trained once")
                continue
            trained[batch_size] = str(label)
            name = compare_config.regime_name(batch_size, num_fit)
            print_fn(f"{name} (batch {batch_size:,}): training for {_describe_budget(budget_epochs, budget_seconds)}")
            try:
                regimes.append(_train_regime(
                    train_config, dataset, label=str(label), name=name, batch_size=batch_size,
                    fit=(x_fit, y_fit), validation=(x_val, y_val),
                    budget_epochs=budget_epochs, budget_seconds=budget_seconds, print_fn=print_fn,
                ))
            except KeyboardInterrupt:
                if regimes:  # Ctrl-C or SIGTERM: the regimes that finished are written before stopping.
                    compare_report.write_comparison(comparison(), workdir)
                raise
        result = comparison()
        result.files = compare_report.write_comparison(result, workdir)
        print_fn(compare_report.format_table(result))
        print_fn(f"comparison folder: {workdir}")
        return result


def _describe_budget(budget_epochs: int | None, budget_seconds: float | None) -> str:
    parts = [f"{budget_epochs} epoch{'s' if budget_epochs != 1 else ''}"] if budget_epochs else []
    parts += [f"{budget_seconds:g} s"] if budget_seconds else []
    return " or ".join(parts)


def _train_regime(
    config: TrainConfig, dataset: Dataset, *, label: str, name: str,
    batch_size: int, fit: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray],
    budget_epochs: int | None, budget_seconds: float | None, print_fn: Callable[[str], Any],
) -> RegimeResult:
    x_fit, y_fit = fit
    num_fit = len(y_fit)
    # Every regime's model starts from the same weights: the core seeds each build with `config.seed`.
    # The clock leaves compiling out, so `auto` means XLA for every regime: one kind of update, compared by batch size alone.
    if config.jit_compile == JIT_COMPILE_AUTO:
        config = config.replace(jit_compile=config.distribution != "multi_worker")
    trainer = Trainer(config, input_shape=dataset.input_shape, num_classes=dataset.num_classes, batch_size=batch_size, epoch_rows=num_fit)
    model, fit_batch_size = trainer.model, trainer.fit_batch_size
    # The clock times the updates alone: no early stopping, plug-ins or divergence guard run inside its budget.
    bare = {"early_stopping": False, "plugins": False, "guards": False}

    # Trace (and XLA-compile) every shape `fit` will see, a full batch and the short
    # last one, then put back the starting weights and optimizer state: the clock
    # measures updates, not compilation.
    initial_weights = model.get_weights()
    model.optimizer.build(model.trainable_variables)
    optimizer_state = [variable.numpy() for variable in model.optimizer.variables]
    num_warmup = min(num_fit, fit_batch_size + num_fit % fit_batch_size)
    trainer.train((x_fit[:num_warmup], y_fit[:num_warmup]), epochs=1, **bare)
    model.set_weights(initial_weights)
    for variable, value in zip(model.optimizer.variables, optimizer_state):
        variable.assign(value)

    clock = RegimeClock(
        evaluate=lambda: _score(model, *validation),
        batch_size=batch_size, fit_batch_size=fit_batch_size, num_fit_samples=num_fit,
        budget_seconds=budget_seconds,
        evaluate_every_updates=_evaluation_interval(math.ceil(num_fit / batch_size)) if budget_epochs else None,
        evaluate_every_seconds=budget_seconds / _POINTS_PER_BUDGET if budget_seconds else None,
        progress=lambda point: print_fn(
            f"  {name} (batch {batch_size:,}): epoch {point.epoch:.2f}  {point.updates:,} updates  "
            f"{point.seconds:.1f}s  val_loss {point.val_loss:.4f}  val_accuracy {point.val_accuracy:.4f}"
        ),
    )
    keras.utils.set_random_seed(config.seed)  # Every regime's dropout draws from the same seed (the core seeds the order).
    # Only the guard against a lost Ctrl-C runs beside the clock: one flag read per call.
    trainer.train((x_fit, y_fit), epochs=budget_epochs or UNBOUNDED_EPOCHS, extra_callbacks=[clock, RaiseOnStopRequest()], **bare)
    test_loss, test_accuracy = _score(model, dataset.x_test, dataset.y_test)  # The one look at the test split.
    updates_per_epoch = math.ceil(num_fit / batch_size)
    seconds_per_update = clock.seconds / clock.updates
    return RegimeResult(
        label=label, name=name, batch_size=batch_size, updates_per_epoch=updates_per_epoch,
        updates=clock.updates, epochs=clock.updates / updates_per_epoch, train_seconds=clock.seconds,
        seconds_per_update=seconds_per_update, seconds_per_epoch=seconds_per_update * updates_per_epoch,
        stopped_by=clock.stopped_by, initial_weights_sha256=clock.initial_weights_sha256,
        curve=clock.points, test_loss=test_loss, test_accuracy=test_accuracy,
    )


def _evaluation_interval(updates_per_epoch: int) -> int | None:
    """Updates between mid-epoch curve points; `None` when epoch ends are enough."""
    if updates_per_epoch < 2 * _POINTS_PER_EPOCH:
        return None
    return math.ceil(updates_per_epoch / _POINTS_PER_EPOCH)


def _score(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Returns `(loss, accuracy)` of `model` on `x, y`, scored as every command scores."""
    scores = score_rows(model, x, y, rows_per_pass=_EVALUATION_ROWS)
    return scores["loss"], scores["accuracy"]
