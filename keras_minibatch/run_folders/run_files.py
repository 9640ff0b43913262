"""Every name keras-minibatch writes at the top of a run, search or comparison folder.

The one place these names are defined: the modules that write a file take its
name from here, and `folder_claim` uses the sets below to tell a folder of ours
from a folder holding someone else's files (which `--overwrite` never deletes).
Standard library only: the CLI checks folders before TensorFlow is imported.
"""

from __future__ import annotations

# Written into every folder we make, first; names its kind and the version that made it.
MARKER_FILE = ".keras-minibatch.json"
# The OS lock of the process writing the folder (`locking.FolderLock`); never deleted.
LOCK_FILE = ".lock"

# A training run (`train`).
MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
EPOCH_LOG_FILE = "epochs.jsonl"
TENSORBOARD_DIR = "tensorboard"
LEARNING_CURVES_PLOT = "learning_curves.png"
CONFUSION_MATRIX_PLOT = "confusion_matrix.png"
TIMINGS_FILE = "timings.json"  # Seconds per phase of the run (`training.run_timings`); written before METRICS_FILE.
CHECKPOINT_DIR = "checkpoint"
RUN_FAILURE_FILE = "failure.txt"  # The traceback of a `--callbacks` plug-in that stopped the run.
STATE_FILE = "state.json"  # Inside CHECKPOINT_DIR: the commit point of a checkpoint.

# A hyperparameter search (`tune`).
SEARCH_CONFIG_FILE = "search_config.json"
TUNER_PROJECT = "tuner"  # KerasTuner's project folder.
TRIALS_JSON = "trials.json"
TRIALS_CSV = "trials.csv"
BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.json"
SEED_VARIANCE_FILE = "seed_variance.json"
WINNER_RUN = "winner"  # Inside TENSORBOARD_DIR: the retrained winner's scalars.
TRIAL_FAILURE_FILE = "failure.txt"  # Inside TUNER_PROJECT/trial_<id>/: a failed trial's traceback.

# A comparison of search strategies (`tune --compare`): one search folder per strategy.
COMPARISON_CONFIG_FILE = "comparison_config.json"
COMPARISON_CSV = "comparison.csv"
COMPARISON_JSON = "comparison.json"
COMPARISON_PLOT = "comparison.png"
STRATEGY_FOLDERS = ("grid", "random", "bayesian", "hyperband")

# A comparison of batch sizes (`compare`).
CURVES_CSV = "curves.csv"
BATCH_SIZE_PLOTS = ("loss_vs_epoch.png", "loss_vs_updates.png", "loss_vs_seconds.png")

# The kinds of folder, and the names each may hold at its top level.
RUN = "run"
SEARCH = "search"
STRATEGY_COMPARISON = "strategy comparison"
BATCH_SIZE_COMPARISON = "batch size comparison"
_ALWAYS = (MARKER_FILE, LOCK_FILE)
NAMES_BY_KIND: dict[str, frozenset[str]] = {
    RUN: frozenset((
        *_ALWAYS, MODEL_FILE, CONFIG_FILE, METRICS_FILE, HISTORY_CSV, HISTORY_JSON, EPOCH_LOG_FILE, TENSORBOARD_DIR,
        LEARNING_CURVES_PLOT, CONFUSION_MATRIX_PLOT, TIMINGS_FILE, CHECKPOINT_DIR, RUN_FAILURE_FILE,
    )),
    SEARCH: frozenset((
        *_ALWAYS, SEARCH_CONFIG_FILE, TUNER_PROJECT, TRIALS_JSON, TRIALS_CSV, BEST_HYPERPARAMETERS_FILE, SEED_VARIANCE_FILE,
        TENSORBOARD_DIR, MODEL_FILE, METRICS_FILE,
    )),
    STRATEGY_COMPARISON: frozenset((*_ALWAYS, COMPARISON_CONFIG_FILE, COMPARISON_CSV, COMPARISON_JSON, COMPARISON_PLOT, *STRATEGY_FOLDERS)),
    BATCH_SIZE_COMPARISON: frozenset((*_ALWAYS, COMPARISON_CSV, CURVES_CSV, COMPARISON_JSON, TENSORBOARD_DIR, *BATCH_SIZE_PLOTS)),
}
# What only a folder of one kind holds: how folders made before markers existed are recognised.
SIGNATURE_BY_KIND = {
    RUN: CONFIG_FILE,
    SEARCH: SEARCH_CONFIG_FILE,
    STRATEGY_COMPARISON: COMPARISON_CONFIG_FILE,
    BATCH_SIZE_COMPARISON: CURVES_CSV,
}


def is_temporary(name: str) -> bool:
    """Whether `name` is a temporary file of an atomic write (`.<stem>.<random>.tmp<suffixes>`)."""
    return name.startswith(".") and ".tmp" in name
