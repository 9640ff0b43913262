"""The command line's flags: their definitions, and turning their values into checked configs.

Every flag is defined here and read by the commands through the holders below
(`WORKDIR.value`, ...). `build_config` and `build_search_config` check the values and
raise `UsageError` naming the flag; `check_flagfiles` and `describe_flag_error` turn
what absl would do with a bad `--flagfile` or value into one line for the user.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from absl import flags

from keras_minibatch import config as config_lib
from keras_minibatch.checks import ConfigError, check_choice
from keras_minibatch.cli.errors import EXIT_USAGE, UsageError, fail
from keras_minibatch.tuning import search_config as search_config_lib

# --help and --helpfull print the flags under this module's name: the command line's entry
# point, where the user's flags have always been listed.
HELP_MODULE = "keras_minibatch.cli.main"

_DEFAULTS = config_lib.TrainConfig()

# Data.
DATASET = flags.DEFINE_string("dataset", _DEFAULTS.dataset, "Data source: mnist, fashion_mnist, digits, a .npz file (x_train, y_train, x_test, y_test) or a folder of IDX files.", module_name=HELP_MODULE)
TEST_FRACTION = flags.DEFINE_float("test_fraction", _DEFAULTS.test_fraction, "Test share carved out (seeded, stratified) for sources without a test split.", module_name=HELP_MODULE)
MAX_TRAIN_SAMPLES = flags.DEFINE_integer("max_train_samples", None, "Cap on training rows (stratified subsample) for quick runs.", module_name=HELP_MODULE)
# Model.
HIDDEN_UNITS = flags.DEFINE_list("hidden_units", [str(u) for u in _DEFAULTS.hidden_units], "Units of each hidden Dense layer (the lecture's 32,64,128,256).", module_name=HELP_MODULE)
ACTIVATION = flags.DEFINE_string("activation", _DEFAULTS.activation, f"Hidden activation: {', '.join(config_lib.ACTIVATIONS)}.", module_name=HELP_MODULE)
DROPOUT = flags.DEFINE_float("dropout", _DEFAULTS.dropout, "Dropout rate after each hidden layer, in [0, 1).", module_name=HELP_MODULE)
OPTIMIZER = flags.DEFINE_string("optimizer", _DEFAULTS.optimizer, f"Optimizer: {', '.join(config_lib.OPTIMIZERS)}.", module_name=HELP_MODULE)
LEARNING_RATE = flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Learning rate, > 0.", module_name=HELP_MODULE)
# Training.
EPOCHS = flags.DEFINE_integer("epochs", _DEFAULTS.epochs, "Passes over the training data.", module_name=HELP_MODULE)
BATCH_SIZE = flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Samples per gradient update.", module_name=HELP_MODULE)
VALIDATION_SPLIT = flags.DEFINE_float("validation_split", _DEFAULTS.validation_split, "Share of the training data held out (stratified) for validation, in (0, 1).", module_name=HELP_MODULE)
SEED = flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed for splits, initial weights and shuffling.", module_name=HELP_MODULE)
STEPS_PER_EXECUTION = flags.DEFINE_integer("steps_per_execution", _DEFAULTS.steps_per_execution, "Mini-batch updates per call into the compiled training function (the same updates as 1, fewer calls).", module_name=HELP_MODULE)


class _JitCompileParser(flags.BooleanParser):
    """`--jit_compile`'s values: auto, or true/false as absl's boolean flags take them."""

    def parse(self, argument: object) -> bool | str:
        if isinstance(argument, str) and argument.lower() == config_lib.JIT_COMPILE_AUTO:
            return config_lib.JIT_COMPILE_AUTO
        try:
            return super().parse(argument)
        except (TypeError, ValueError):
            raise ValueError("must be auto, true or false") from None

    def flag_type(self) -> str:
        return "auto, true or false"


# A boolean flag that also takes `auto`: `--jit_compile` alone means true, `--nojit_compile` false.
JIT_COMPILE = flags.DEFINE_flag(
    flags.Flag(
        _JitCompileParser(), flags.ArgumentSerializer(), "jit_compile", _DEFAULTS.jit_compile,
        "Compile the training updates with XLA: auto (when the run's updates repay the compile), true or false.", boolean=True,
    ),
    module_name=HELP_MODULE,
)
EARLY_STOPPING = flags.DEFINE_boolean("early_stopping", _DEFAULTS.early_stopping, "Stop when --early_stopping_monitor stops improving.", module_name=HELP_MODULE)
EARLY_STOPPING_MONITOR = flags.DEFINE_string("early_stopping_monitor", _DEFAULTS.early_stopping_monitor, "Metric watched by early stopping: " + ", ".join(config_lib.EPOCH_LOG_KEYS) + ".", module_name=HELP_MODULE)
EARLY_STOPPING_PATIENCE = flags.DEFINE_integer("early_stopping_patience", _DEFAULTS.early_stopping_patience, "Epochs without improvement before stopping.", module_name=HELP_MODULE)
EARLY_STOPPING_MIN_DELTA = flags.DEFINE_float("early_stopping_min_delta", _DEFAULTS.early_stopping_min_delta, "Smallest change counted as an improvement.", module_name=HELP_MODULE)
EARLY_STOPPING_MODE = flags.DEFINE_string("early_stopping_mode", _DEFAULTS.early_stopping_mode, "auto, min or max.", module_name=HELP_MODULE)
RESTORE_BEST_WEIGHTS = flags.DEFINE_boolean("restore_best_weights", _DEFAULTS.restore_best_weights, "Early stopping restores the best epoch's weights.", module_name=HELP_MODULE)
DISTRIBUTION = flags.DEFINE_string("distribution", _DEFAULTS.distribution, "none, mirrored (tf.distribute.MirroredStrategy over local devices) or multi_worker (MultiWorkerMirroredStrategy over the workers in TF_CONFIG; train only); --batch_size is the global batch.", module_name=HELP_MODULE)
CALLBACKS = flags.DEFINE_multi_string("callbacks", [], "Extra callback, repeatable: 'package.module:ClassName(key=value, ...)'.", module_name=HELP_MODULE)
# Output.
WORKDIR = flags.DEFINE_string("workdir", None, "Run folder; default: a fresh timestamped folder under runs/. tensorboard: the folder to serve, default runs/.", module_name=HELP_MODULE)
OVERWRITE = flags.DEFINE_boolean("overwrite", False, "Replace an existing run folder's contents; predict, export: replace an --output keras-minibatch wrote.", module_name=HELP_MODULE)
PROGRESS = flags.DEFINE_enum("progress", "auto", ["auto", "bar", "lines"], "train, tune: a live line counting each epoch's mini-batch updates (bar), one line per epoch (lines), or bar only on a terminal without NO_COLOR or TERM=dumb (auto).", module_name=HELP_MODULE)
# Search (tune).
_SEARCH_DEFAULTS = search_config_lib.SearchConfig()
TUNER = flags.DEFINE_string("tuner", _SEARCH_DEFAULTS.tuner, f"tune: {', '.join(search_config_lib.TUNERS)}.", module_name=HELP_MODULE)
MAX_TRIALS = flags.DEFINE_integer("max_trials", _SEARCH_DEFAULTS.max_trials, "tune: most trials, resumed ones included.", module_name=HELP_MODULE)
EXECUTIONS_PER_TRIAL = flags.DEFINE_integer("executions_per_trial", _SEARCH_DEFAULTS.executions_per_trial, "tune: trainings per trial, averaged.", module_name=HELP_MODULE)
OBJECTIVE = flags.DEFINE_string("objective", _SEARCH_DEFAULTS.objective, f"tune: {', '.join(search_config_lib.OBJECTIVES)} (validation metrics only).", module_name=HELP_MODULE)
FIX = flags.DEFINE_multi_string("fix", [], f"tune: pin hyperparameters, e.g. --fix=learning_rate=1e-3,optimizer=adam; names: {', '.join(search_config_lib.FIXABLE_HYPERPARAMETERS)}.", module_name=HELP_MODULE)
NUM_INITIAL_POINTS = flags.DEFINE_integer("num_initial_points", None, "tune: random trials before Bayesian optimization's Gaussian process takes over (default: KerasTuner's, 3 per hyperparameter; with --compare, max(2, max_trials // 4)).", module_name=HELP_MODULE)
COMPARE = flags.DEFINE_boolean("compare", False, "tune: run grid, random and Bayesian search on the same space, budget and seed; write the best objective so far per trial as a table, CSV and PNG (--tuner is ignored; the test split is not scored).", module_name=HELP_MODULE)
SEED_VARIANCE = flags.DEFINE_integer("seed_variance", 0, "tune: after the search, retrain the winner with this many fresh seeds (>= 2), report mean and standard deviation and whether the top trials are within that noise; 0 skips it.", module_name=HELP_MODULE)
HEARTBEAT_TIMEOUT = flags.DEFINE_float(
    "heartbeat_timeout", 60.0,
    "tune, distributed (KERASTUNER_* set): seconds without a word after which the chief gives a silent worker's trial to another worker, and a worker gives up on its chief (>= 5).",
    module_name=HELP_MODULE,
)
RESUME = flags.DEFINE_boolean("resume", False, "Continue the run (train) or search (tune) in --workdir after a crash or Ctrl-C: finished epochs or trials are kept.", module_name=HELP_MODULE)
MODEL = flags.DEFINE_string("model", None, "evaluate, predict, export: a .keras file or a run folder holding model.keras.", module_name=HELP_MODULE)
# Using a trained model (predict, export).
INVERT = flags.DEFINE_string("invert", "auto", "predict: auto inverts each image whose ink is darker than its paper (MNIST is light on dark); true or false forces it.", module_name=HELP_MODULE)
OUTPUT = flags.DEFINE_string("output", None, "predict: also write the predictions to FILE.csv or FILE.json; export: the SavedModel folder or .tflite file to write.", module_name=HELP_MODULE)
FORMAT = flags.DEFINE_string("format", None, "export: saved_model (TF Serving, tf.saved_model.load) or tflite.", module_name=HELP_MODULE)

# Batch-size comparison (compare).
BATCH_SIZES = flags.DEFINE_string("batch_sizes", "full,1,32", "compare: batch sizes to compare; 'full' is every training row (full-batch gradient descent).", module_name=HELP_MODULE)
BUDGET_EPOCHS = flags.DEFINE_integer("budget_epochs", None, "compare: epochs per regime (default: --epochs when no --budget_seconds).", module_name=HELP_MODULE)
BUDGET_SECONDS = flags.DEFINE_float("budget_seconds", None, "compare: wall seconds of training per regime; with --budget_epochs, whichever ends first.", module_name=HELP_MODULE)

# TensorBoard.
PORT = flags.DEFINE_integer("port", 6006, "tensorboard: TCP port; 0 picks a free one.", lower_bound=0, upper_bound=65535, module_name=HELP_MODULE)
HOST = flags.DEFINE_string("host", "127.0.0.1", "tensorboard: loopback address to listen on (127.0.0.1, ::1 or localhost).", module_name=HELP_MODULE)


def format_flag_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def flag_usage_error(error: ConfigError) -> UsageError:
    """A library's `ConfigError` as the command line says it: `--field=value what is allowed`."""
    return UsageError(f"--{error.field}={format_flag_value(error.value)} {error.allowed}")


def build_config() -> config_lib.TrainConfig:
    """Builds the `TrainConfig` from the parsed flags.

    Raises:
        UsageError: naming the flag, the value and what is allowed.
    """
    try:
        hidden_units = tuple(int(units) for units in HIDDEN_UNITS.value)
    except ValueError:
        raise UsageError(f"--hidden_units={format_flag_value(HIDDEN_UNITS.value)} must be a comma-separated list of integers >= 1") from None
    multi_worker = DISTRIBUTION.value == "multi_worker"
    try:
        if EARLY_STOPPING_MONITOR.present:  # TrainConfig reads it only with early stopping on; a typo given here is still one.
            check_choice("early_stopping_monitor", EARLY_STOPPING_MONITOR.value, config_lib.EPOCH_LOG_KEYS)
        return config_lib.TrainConfig(
            dataset=DATASET.value,
            test_fraction=TEST_FRACTION.value,
            max_train_samples=MAX_TRAIN_SAMPLES.value,
            hidden_units=hidden_units,
            activation=ACTIVATION.value,
            dropout=DROPOUT.value,
            optimizer=OPTIMIZER.value,
            learning_rate=LEARNING_RATE.value,
            epochs=EPOCHS.value,
            batch_size=BATCH_SIZE.value,
            validation_split=VALIDATION_SPLIT.value,
            seed=SEED.value,
            # Under multi_worker the speed defaults do not apply (TrainConfig says why); flags
            # the user did not give follow the distribution, flags they gave are checked.
            steps_per_execution=1 if multi_worker and not flags.FLAGS["steps_per_execution"].present else STEPS_PER_EXECUTION.value,
            jit_compile=JIT_COMPILE.value,  # `auto` never picks XLA under multi_worker.
            early_stopping=EARLY_STOPPING.value,
            early_stopping_monitor=EARLY_STOPPING_MONITOR.value,
            early_stopping_patience=EARLY_STOPPING_PATIENCE.value,
            early_stopping_min_delta=EARLY_STOPPING_MIN_DELTA.value,
            early_stopping_mode=EARLY_STOPPING_MODE.value,
            restore_best_weights=RESTORE_BEST_WEIGHTS.value,
            callbacks=tuple(CALLBACKS.value),
            distribution=DISTRIBUTION.value,
        )
    except ConfigError as error:
        raise UsageError(f"--{error.field}={format_flag_value(error.value)} {error.allowed}") from None


def build_search_config() -> search_config_lib.SearchConfig:
    """Builds the `SearchConfig` from the parsed flags.

    Raises:
        UsageError: naming the flag, the value and what is allowed.
    """
    try:
        return search_config_lib.SearchConfig(
            tuner=TUNER.value,
            max_trials=MAX_TRIALS.value,
            executions_per_trial=EXECUTIONS_PER_TRIAL.value,
            objective=OBJECTIVE.value,
            fixed=search_config_lib.parse_fix_spec(FIX.value),
            num_initial_points=NUM_INITIAL_POINTS.value,
        )
    except ConfigError as error:
        flag = "fix" if error.field == "fixed" else error.field
        raise UsageError(f"--{flag}={format_flag_value(error.value)} {error.allowed}") from None


_FLAG_KINDS = {"int": "an integer", "float": "a number", "bool": "true or false"}


def check_flagfiles(args: Sequence[str]) -> None:
    """Refuses a `--flagfile` that is not a readable regular file (absl would read /dev/zero forever)."""
    for arg in args:
        if arg.startswith(("--flagfile=", "-flagfile=")):
            path = arg.split("=", 1)[1]
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                fail(f"--flagfile={path} must name a readable file of flags, one --name=value per line", EXIT_USAGE)


def describe_flag_error(error: Exception) -> str:
    """Rewrites absl's parse errors as '--name=value must be KIND' where it can."""
    negated = re.match(r"^--no(\w+)=(.*) does not take an argument$", str(error))
    if negated:
        name, value = negated.groups()
        return f"--no{name}={value}: --no{name} takes no value; write --{name}=true or --{name}=false"
    match = re.match(r"^flag --(\w+)=(.*?): (.*)$", str(error), flags=re.DOTALL)
    if match and match.group(1) in flags.FLAGS:
        name, value, detail = match.groups()
        kind = _FLAG_KINDS.get(flags.FLAGS[name].flag_type())
        parser = flags.FLAGS[name].parser
        lower, upper = getattr(parser, "lower_bound", None), getattr(parser, "upper_bound", None)
        if kind and lower is not None and upper is not None:
            return f"--{name}={value} must be {kind} from {lower} to {upper}"
        if kind:
            return f"--{name}={value} must be {kind}"
        return f"--{name}={value}: {detail}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__
