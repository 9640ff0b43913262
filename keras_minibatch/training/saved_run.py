"""The files a training run saves into its folder, and what a resumed run reads back from them.

`config.json` (the settings, with the XLA choice `auto` made, the data's
fingerprint, the library versions) is written before training; `history.csv`
and `history.json` after it; the test scalars, the model and the plots (drawn in
a process of their own, `plots.plot_process`) once the test split is scored,
then `timings.json` and `metrics.json`, last: a run folder holding it is
finished. A resumed run checks its data against `config.json` and drops the
epoch-log lines of epochs it trains again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.plots import training_plots
from keras_minibatch.plots.plot_process import PlotProcess
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.run_files import (
    CONFIG_FILE,
    CONFUSION_MATRIX_PLOT,
    HISTORY_CSV,
    HISTORY_JSON,
    LEARNING_CURVES_PLOT,
    METRICS_FILE,
    MODEL_FILE,
    TENSORBOARD_DIR,
    TIMINGS_FILE,
)
from keras_minibatch.run_folders.rundir import CorruptCheckpointError
from keras_minibatch.training import report


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
        # Read from the installed package: importing KerasTuner would cost `train` memory for nothing.
        "keras_tuner": importlib.metadata.version("keras-tuner"),
        "numpy": np.__version__,
    }


def write_run_config(workdir: Path, config: TrainConfig, *, data_source: str, data_record: Mapping[str, Any]) -> None:
    """Writes `config.json`: the settings, the data's source and fingerprint, and `library_versions()`."""
    rundir.write_json_atomic(workdir / CONFIG_FILE, {"config": config.to_dict(), "data_source": data_source, "data": data_record, "versions": library_versions()})


def check_same_data(workdir: Path, fingerprint: dict[str, Any]) -> None:
    """Refuses to resume a run on data other than those it trained on (by content, not only by path).

    Raises:
        RunDirError: naming both data sources, their sizes and hashes.
    """
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


def keep_epoch_log_lines(path: Path, epochs_done: int) -> None:
    """Drops epoch-log lines written after the checkpoint a resumed run starts from.

    A torn last line (the process died while writing it) is dropped too; a
    damaged line before it is reported.

    Raises:
        CorruptCheckpointError: naming the file and the damaged line.
    """
    if not path.is_file():
        return
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True) if line.strip()]
    kept = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            epoch = record.get("epoch", 0) if isinstance(record, dict) else None
        except ValueError:
            epoch = None
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            if number == len(lines):
                break  # Torn by a kill mid-write: that epoch is logged again.
            raise CorruptCheckpointError(
                f"{str(path)!r} line {number} is damaged; delete that line (or the file) and rerun with --resume."
            )
        if epoch <= epochs_done:
            kept.append(line if line.endswith("\n") else line + "\n")
    rundir.write_text_atomic(path, "".join(kept))


def write_history(workdir: Path, history: Mapping[str, list[float]]) -> None:
    """Writes the per-epoch metrics as `history.csv` and `history.json`."""
    rundir.write_history_csv_atomic(workdir / HISTORY_CSV, history)
    rundir.write_json_atomic(workdir / HISTORY_JSON, history)


def draw_learning_curves(plots: PlotProcess, workdir: Path, history: Mapping[str, list[float]]) -> None:
    """Has `plots` draw `learning_curves.png` from the per-epoch metrics."""
    plots.learning_curves(history, workdir / LEARNING_CURVES_PLOT)


def draw_confusion_matrix(plots: PlotProcess, workdir: Path, dataset: Dataset, predicted_labels: np.ndarray) -> None:
    """Has `plots` draw `confusion_matrix.png`: the test split's labels against `predicted_labels`."""
    matrix = training_plots.confusion_matrix(dataset.y_test, predicted_labels, dataset.num_classes)
    plots.confusion_matrix(matrix, workdir / CONFUSION_MATRIX_PLOT, title="Confusion matrix, test split")


def save_results(model: keras.Model, history: Mapping[str, list[float]], test_metrics: dict[str, float], workdir: Path) -> None:
    """Writes the test scalars (TensorBoard) and the model."""
    report.write_test_scalars(workdir / TENSORBOARD_DIR, test_metrics, step=len(history.get("loss", [])))
    with rundir.atomic_path(workdir / MODEL_FILE) as temp_model_path:
        model.save(temp_model_path)


def write_timings(workdir: Path, timings: Mapping[str, Any]) -> None:
    """Writes `timings.json`, the seconds of each phase (`run_timings`); before `metrics.json`."""
    rundir.write_json_atomic(workdir / TIMINGS_FILE, timings)


def write_metrics(workdir: Path, history: Mapping[str, list[float]], test_metrics: dict[str, float], *, stop_reason: str | None) -> None:
    """Writes `metrics.json`, the run's last file: a run folder holding it is finished."""
    rundir.write_json_atomic(
        workdir / METRICS_FILE,
        {**test_metrics, "epochs_run": len(history.get("loss", [])), "stop_reason": stop_reason},
    )
