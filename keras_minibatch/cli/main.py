"""keras-minibatch: train, evaluate and tune the lecture's mini-batch MLP.

Usage:
  keras-minibatch train [--dataset=digits] [--epochs=10] [--batch_size=32] [flags]
  keras-minibatch evaluate --model=RUN_FOLDER_OR_MODEL_FILE [--dataset=...]
  keras-minibatch tune --tuner=random|bayesian|grid|hyperband --max_trials=N [flags]
  keras-minibatch tune --compare --max_trials=N [--fix=...] [flags]
  keras-minibatch compare --batch_sizes=full,1,32 [--budget_epochs=N | --budget_seconds=S]
  keras-minibatch tensorboard [--workdir=runs] [--port=6006]

Commands:
  train      Train the MLP with model.fit and validation_split, score the test split
             once, and save everything into a run folder (--workdir).
  evaluate   Re-score a saved model on a data source's test split.
  tune       Search hyperparameters with KerasTuner on the training data (objective on
             validation metrics), retrain the winner and score the test split once.
             --compare runs grid, random and Bayesian search on one space, budget and
             seed instead and reports the best objective so far per trial. With
             KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT set,
             this process is a distributed search's chief or one of its workers.
  compare    Train the same model from the same initial weights with full-batch gradient
             descent, SGD (batch 1) and mini-batches under one budget; report seconds
             per update, loss against epochs, updates and wall time, and test accuracy.
  tensorboard
             Serve run folders (--workdir, default runs/) with TensorBoard on
             127.0.0.1 until Ctrl-C; never on the network.

Exit codes: 0 success; 1 the run failed (diverged, folder taken or locked, corrupt
checkpoint); 2 bad flags, arguments or input data; 130 / 143 stopped by Ctrl-C / SIGTERM
(everything up to the last completed epoch or trial is kept; the resume command is printed).
Every flag below is checked before TensorFlow is imported. --helpfull lists all flags.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sys
from collections.abc import Sequence

from absl import app, flags

from keras_minibatch import config as config_lib
from keras_minibatch.runs import folder_checks
from keras_minibatch.runs import folder_claim
from keras_minibatch.runs import run_files
from keras_minibatch.runs import rundir
from keras_minibatch.tuning import search_config as search_config_lib
from keras_minibatch.tuning import oracle_address
from keras_minibatch.tuning import search_folder as search_dir
from keras_minibatch.data.dataset import DataError
from keras_minibatch.data.sources import check_source
from keras_minibatch.runs.locking import FolderLockedError
from keras_minibatch.tuning.oracle_address import OracleAddressError
from keras_minibatch.training.plugins import CallbackSpecError, parse_callback_spec
from keras_minibatch.training.termination import Terminated, handle_sigterm, reset_termination

PROG = "keras-minibatch"
COMMANDS = ("train", "evaluate", "tune", "compare", "tensorboard")
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130  # 128 + signal number, as shells report it.
EXIT_SIGTERM = 143

# The folder the current command writes, and its argv: for the resume hint after Ctrl-C.
_RUN_FOLDER: list[str | None] = [None]
# How an interrupted command's folder continues: None for `--resume`, else what to say instead.
_NOT_RESUMABLE: list[str | None] = [None]
# A default folder this command created: removed again if the command fails before writing into it.
_CREATED_FOLDER: list[str | None] = [None]
_ORIGINAL_ARGV: list[list[str] | None] = [None]

_DEFAULTS = config_lib.TrainConfig()

# Data.
_DATASET = flags.DEFINE_string("dataset", _DEFAULTS.dataset, "Data source: mnist, digits, a .npz file (x_train, y_train, x_test, y_test) or a folder of IDX files.")
_TEST_FRACTION = flags.DEFINE_float("test_fraction", _DEFAULTS.test_fraction, "Test share carved out (seeded, stratified) for sources without a test split.")
_MAX_TRAIN_SAMPLES = flags.DEFINE_integer("max_train_samples", None, "Cap on training rows (stratified subsample) for quick runs.")
# Model.
_HIDDEN_UNITS = flags.DEFINE_list("hidden_units", [str(u) for u in _DEFAULTS.hidden_units], "Units of each hidden Dense layer (the lecture's 32,64,128,256).")
_ACTIVATION = flags.DEFINE_string("activation", _DEFAULTS.activation, f"Hidden activation: {', '.join(config_lib.ACTIVATIONS)}.")
_DROPOUT = flags.DEFINE_float("dropout", _DEFAULTS.dropout, "Dropout rate after each hidden layer, in [0, 1).")
_OPTIMIZER = flags.DEFINE_string("optimizer", _DEFAULTS.optimizer, f"Optimizer: {', '.join(config_lib.OPTIMIZERS)}.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Learning rate, > 0.")
# Training.
_EPOCHS = flags.DEFINE_integer("epochs", _DEFAULTS.epochs, "Passes over the training data.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Samples per gradient update.")
_VALIDATION_SPLIT = flags.DEFINE_float("validation_split", _DEFAULTS.validation_split, "Share of the training data held out (stratified) for validation, in (0, 1).")
_SEED = flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed for splits, initial weights and shuffling.")
_STEPS_PER_EXECUTION = flags.DEFINE_integer("steps_per_execution", _DEFAULTS.steps_per_execution, "Mini-batch updates per call into the compiled training function (the same updates as 1, fewer calls).")
_JIT_COMPILE = flags.DEFINE_boolean("jit_compile", _DEFAULTS.jit_compile, "Compile the training step with XLA: faster epochs after a few seconds of compiling.")
_EARLY_STOPPING = flags.DEFINE_boolean("early_stopping", _DEFAULTS.early_stopping, "Stop when --early_stopping_monitor stops improving.")
_EARLY_STOPPING_MONITOR = flags.DEFINE_string("early_stopping_monitor", _DEFAULTS.early_stopping_monitor, "Metric watched by early stopping.")
_EARLY_STOPPING_PATIENCE = flags.DEFINE_integer("early_stopping_patience", _DEFAULTS.early_stopping_patience, "Epochs without improvement before stopping.")
_EARLY_STOPPING_MIN_DELTA = flags.DEFINE_float("early_stopping_min_delta", _DEFAULTS.early_stopping_min_delta, "Smallest change counted as an improvement.")
_EARLY_STOPPING_MODE = flags.DEFINE_string("early_stopping_mode", _DEFAULTS.early_stopping_mode, "auto, min or max.")
_RESTORE_BEST_WEIGHTS = flags.DEFINE_boolean("restore_best_weights", _DEFAULTS.restore_best_weights, "Early stopping restores the best epoch's weights.")
_DISTRIBUTION = flags.DEFINE_string("distribution", _DEFAULTS.distribution, "none, mirrored (tf.distribute.MirroredStrategy over local devices) or multi_worker (MultiWorkerMirroredStrategy over the workers in TF_CONFIG; train only); --batch_size is the global batch.")
_CALLBACKS = flags.DEFINE_multi_string("callbacks", [], "Extra callback, repeatable: 'package.module:ClassName(key=value, ...)'.")
# Output.
_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder; default: a fresh timestamped folder under runs/. tensorboard: the folder to serve, default runs/.")
_OVERWRITE = flags.DEFINE_boolean("overwrite", False, "Replace an existing run folder's contents.")
_PROGRESS = flags.DEFINE_enum("progress", "auto", ["auto", "bar", "lines"], "Per-batch progress bar (bar), one line per epoch (lines), or bar only on a terminal (auto).")
# Search (tune).
_SEARCH_DEFAULTS = search_config_lib.SearchConfig()
_TUNER = flags.DEFINE_string("tuner", _SEARCH_DEFAULTS.tuner, f"tune: {', '.join(search_config_lib.TUNERS)}.")
_MAX_TRIALS = flags.DEFINE_integer("max_trials", _SEARCH_DEFAULTS.max_trials, "tune: most trials, resumed ones included.")
_EXECUTIONS_PER_TRIAL = flags.DEFINE_integer("executions_per_trial", _SEARCH_DEFAULTS.executions_per_trial, "tune: trainings per trial, averaged.")
_OBJECTIVE = flags.DEFINE_string("objective", _SEARCH_DEFAULTS.objective, f"tune: {', '.join(search_config_lib.OBJECTIVES)} (validation metrics only).")
_FIX = flags.DEFINE_multi_string("fix", [], f"tune: pin hyperparameters, e.g. --fix=learning_rate=1e-3,optimizer=adam; names: {', '.join(search_config_lib.FIXABLE_HYPERPARAMETERS)}.")
_NUM_INITIAL_POINTS = flags.DEFINE_integer("num_initial_points", None, "tune: random trials before Bayesian optimization's Gaussian process takes over (default: KerasTuner's, 3 per hyperparameter; with --compare, max(2, max_trials // 4)).")
_COMPARE = flags.DEFINE_boolean("compare", False, "tune: run grid, random and Bayesian search on the same space, budget and seed; write the best objective so far per trial as a table, CSV and PNG (--tuner is ignored; the test split is not scored).")
_SEED_VARIANCE = flags.DEFINE_integer("seed_variance", 0, "tune: after the search, retrain the winner with this many fresh seeds (>= 2), report mean and standard deviation and whether the top trials are within that noise; 0 skips it.")
_HEARTBEAT_TIMEOUT = flags.DEFINE_float(
    "heartbeat_timeout", 60.0,
    "tune, distributed (KERASTUNER_* set): seconds without a word after which the chief gives a silent worker's trial to another worker, and a worker gives up on its chief (>= 5).",
)
_RESUME = flags.DEFINE_boolean("resume", False, "Continue the run (train) or search (tune) in --workdir after a crash or Ctrl-C: finished epochs or trials are kept.")
_MODEL = flags.DEFINE_string("model", None, "evaluate: a .keras file or a run folder holding model.keras.")

# Batch-size comparison (compare).
_BATCH_SIZES = flags.DEFINE_string("batch_sizes", "full,1,32", "compare: batch sizes to compare; 'full' is every training row (full-batch gradient descent).")
_BUDGET_EPOCHS = flags.DEFINE_integer("budget_epochs", None, "compare: epochs per regime (default: --epochs when no --budget_seconds).")
_BUDGET_SECONDS = flags.DEFINE_float("budget_seconds", None, "compare: wall seconds of training per regime; with --budget_epochs, whichever ends first.")

# TensorBoard.
_PORT = flags.DEFINE_integer("port", 6006, "tensorboard: TCP port; 0 picks a free one.", lower_bound=0, upper_bound=65535)
_HOST = flags.DEFINE_string("host", "127.0.0.1", "tensorboard: loopback address to listen on (127.0.0.1, ::1 or localhost).")

_HELP_ARGS = ("-h", "--help", "-help", "--helpshort", "-helpshort", "-?")


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def _format_flag_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def build_config() -> config_lib.TrainConfig:
    """Builds the `TrainConfig` from the parsed flags.

    Raises:
        UsageError: naming the flag, the value and what is allowed.
    """
    try:
        hidden_units = tuple(int(units) for units in _HIDDEN_UNITS.value)
    except ValueError:
        raise UsageError(f"--hidden_units={_format_flag_value(_HIDDEN_UNITS.value)} must be a comma-separated list of integers >= 1") from None
    multi_worker = _DISTRIBUTION.value == "multi_worker"
    try:
        return config_lib.TrainConfig(
            dataset=_DATASET.value,
            test_fraction=_TEST_FRACTION.value,
            max_train_samples=_MAX_TRAIN_SAMPLES.value,
            hidden_units=hidden_units,
            activation=_ACTIVATION.value,
            dropout=_DROPOUT.value,
            optimizer=_OPTIMIZER.value,
            learning_rate=_LEARNING_RATE.value,
            epochs=_EPOCHS.value,
            batch_size=_BATCH_SIZE.value,
            validation_split=_VALIDATION_SPLIT.value,
            seed=_SEED.value,
            # Under multi_worker the speed defaults do not apply (TrainConfig says why); flags
            # the user did not give follow the distribution, flags they gave are checked.
            steps_per_execution=1 if multi_worker and not flags.FLAGS["steps_per_execution"].present else _STEPS_PER_EXECUTION.value,
            jit_compile=False if multi_worker and not flags.FLAGS["jit_compile"].present else _JIT_COMPILE.value,
            early_stopping=_EARLY_STOPPING.value,
            early_stopping_monitor=_EARLY_STOPPING_MONITOR.value,
            early_stopping_patience=_EARLY_STOPPING_PATIENCE.value,
            early_stopping_min_delta=_EARLY_STOPPING_MIN_DELTA.value,
            early_stopping_mode=_EARLY_STOPPING_MODE.value,
            restore_best_weights=_RESTORE_BEST_WEIGHTS.value,
            callbacks=tuple(_CALLBACKS.value),
            distribution=_DISTRIBUTION.value,
        )
    except config_lib.ConfigError as error:
        raise UsageError(f"--{error.field}={_format_flag_value(error.value)} {error.allowed}") from None


def _quiet_tensorflow() -> None:
    """Imports TensorFlow with its C++ start-up chatter kept off the terminal."""
    from keras_minibatch.cli.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()


def _show_progress_bar() -> bool:
    if _PROGRESS.value == "auto":
        return sys.stdout.isatty()
    return _PROGRESS.value == "bar"


def _check_resume_flags() -> None:
    if _RESUME.value and _OVERWRITE.value:
        raise UsageError("--resume and --overwrite exclude each other: resume continues the folder, overwrite deletes it")
    if _RESUME.value and not _WORKDIR.value:
        raise UsageError("--resume needs --workdir: the folder to continue")


def _check_distribution_for(command: str, config: config_lib.TrainConfig) -> None:
    if config.distribution != "multi_worker":
        return
    if command != "train":
        raise UsageError(
            f"--distribution=multi_worker is for train; {command} runs its trainings in one process "
            + ("(spread a search over machines with KerasTuner's chief/worker mode: KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT)" if command == "tune" else "(use none or mirrored)")
        )
    from keras_minibatch.training.multi_worker import ClusterConfigError, check_tf_config  # Standard library only.

    try:
        check_tf_config()
    except ClusterConfigError as error:
        raise UsageError(str(error)) from None


def _take_workdir(default_name: str) -> str:
    """Returns `--workdir`, or creates a fresh default folder (atomically: concurrent runs each get their own)."""
    if _WORKDIR.value:
        return _WORKDIR.value
    folder = str(folder_claim.make_default_folder(default_name))
    _CREATED_FOLDER[0] = folder
    return folder


def _command_train(config: config_lib.TrainConfig) -> int:
    _check_resume_flags()
    _check_distribution_for("train", config)
    if _WORKDIR.value:
        folder_checks.check_folder(_WORKDIR.value, run_files.RUN, overwrite=_OVERWRITE.value, resume=_RESUME.value)
        if _RESUME.value:
            rundir.check_resumable_run(config, _WORKDIR.value)
    for spec in config.callbacks:
        parse_callback_spec(spec)
    workdir = _take_workdir(config.dataset)
    _quiet_tensorflow()
    from keras_minibatch.training import run as training  # Imports TensorFlow: only after every check passed.

    _RUN_FOLDER[0] = workdir
    try:
        training.train_and_evaluate(config, workdir, overwrite=_OVERWRITE.value, resume=_RESUME.value, progress_bar=_show_progress_bar())
    except training.DivergenceError as error:
        _fail(str(error), EXIT_FAILURE)
    return 0


def _command_evaluate(config: config_lib.TrainConfig) -> int:
    if not _MODEL.value:
        raise UsageError("--model is required for evaluate: a .keras file or a run folder")
    from keras_minibatch.training import evaluation

    model_path = evaluation.resolve_model_path(_MODEL.value)
    # Score the same test rows the model was held out from: the run's own source and split,
    # unless the user names another source.
    explicit = not flags.FLAGS["dataset"].using_default_value
    try:
        saved, run_record = evaluation.read_run_config(model_path) or {}, evaluation.read_run_data(model_path) or {}
    except DataError:
        if not explicit:
            raise  # Without it, nothing says which data to score.
        saved, run_record = {}, {}
    run_data = config_lib.TrainConfig(dataset=saved["dataset"]).dataset if isinstance(saved.get("dataset"), str) and saved["dataset"] else None
    dataset = config.dataset if explicit or run_data is None else run_data
    test_fraction = config.test_fraction if not flags.FLAGS["test_fraction"].using_default_value else saved.get("test_fraction", config.test_fraction)
    seed = config.seed if not flags.FLAGS["seed"].using_default_value else saved.get("seed", config.seed)
    check_source(dataset)
    if run_data is None:
        whose = "given by --dataset; no config.json beside the model says what it trained on" if explicit else "no config.json beside the model: --dataset's default"
    elif dataset == run_data:
        whose = "the run's own data"
    else:
        whose = f"given by --dataset, not the run's data: it trained on {run_data}"
    expected = None if explicit else run_record.get("test_sha256")
    _quiet_tensorflow()
    notes: list[str] = []
    metrics = evaluation.evaluate_saved_model(model_path, dataset=dataset, test_fraction=test_fraction, seed=seed, expected_test_sha256=expected, notes=notes)
    print(f"model: {model_path}\ndata:  {dataset} ({whose})")
    for note in notes:
        print(f"note:  {note}")
    print("test:  " + "  ".join(f"{name.removeprefix('test_')} {value:.4f}" for name, value in metrics.items()))
    return 0


def build_search_config() -> search_config_lib.SearchConfig:
    """Builds the `SearchConfig` from the parsed flags.

    Raises:
        UsageError: naming the flag, the value and what is allowed.
    """
    try:
        return search_config_lib.SearchConfig(
            tuner=_TUNER.value,
            max_trials=_MAX_TRIALS.value,
            executions_per_trial=_EXECUTIONS_PER_TRIAL.value,
            objective=_OBJECTIVE.value,
            fixed=search_config_lib.parse_fix_spec(_FIX.value),
            num_initial_points=_NUM_INITIAL_POINTS.value,
        )
    except config_lib.ConfigError as error:
        flag = "fix" if error.field == "fixed" else error.field
        raise UsageError(f"--{flag}={_format_flag_value(error.value)} {error.allowed}") from None


def _check_distributed_environment() -> bool:
    """Whether KerasTuner's distributed mode is asked for; refuses a half or malformed set of its variables, or a taken port."""
    try:
        address = oracle_address.oracle_address()
        if address is None:
            return False
        if address.role == "chief":
            oracle_address.check_port_free(address)
        oracle_address.check_heartbeat_timeout(_HEARTBEAT_TIMEOUT.value)
    except OracleAddressError as error:
        raise UsageError(str(error)) from None
    except config_lib.ConfigError as error:
        raise UsageError(f"--heartbeat_timeout={_format_flag_value(error.value)} {error.allowed}") from None
    return True


def _command_tune(config: config_lib.TrainConfig) -> int:
    _check_distribution_for("tune", config)
    search_config = build_search_config()
    _check_resume_flags()
    if _SEED_VARIANCE.value < 0 or _SEED_VARIANCE.value == 1:
        raise UsageError(f"--seed_variance={_SEED_VARIANCE.value} must be 0 (off) or a number of seeds >= 2: a spread needs two runs")
    if _COMPARE.value and _SEED_VARIANCE.value:
        raise UsageError("--seed_variance retrains one search's winner; it cannot be combined with --compare")
    # KerasTuner's distributed mode; the library asks KerasTuner whether this process is the chief or a worker.
    distributed = _check_distributed_environment()
    if distributed and _COMPARE.value:
        raise UsageError("--compare runs its searches one after another and cannot be distributed; unset KERASTUNER_ORACLE_IP")
    if distributed and not _WORKDIR.value:
        raise UsageError("a distributed search (KERASTUNER_ORACLE_IP is set) needs --workdir: the search folder of the chief and of every worker")
    if _COMPARE.value and _WORKDIR.value:
        fingerprint = search_dir.comparison_fingerprint(config, search_config, ("grid", "random", "bayesian"))
        search_dir.check_comparison_dir(_WORKDIR.value, resume=_RESUME.value, overwrite=_OVERWRITE.value, fingerprint=fingerprint)
    elif _WORKDIR.value and not distributed:  # a worker must not judge a folder its chief may be preparing; `search` checks it on the chief
        search_dir.check_search_dir(_WORKDIR.value, resume=_RESUME.value, overwrite=_OVERWRITE.value, train_config=config, search_config=search_config)
    for spec in config.callbacks:
        parse_callback_spec(spec)
    workdir = _take_workdir(f"compare-{config.dataset}" if _COMPARE.value else f"tune-{search_config.tuner}-{config.dataset}")
    _RUN_FOLDER[0] = workdir
    _quiet_tensorflow()
    from keras_minibatch.tuning import search as tuning, search_result  # Imports TensorFlow: only after every check passed.

    try:
        if _COMPARE.value:
            from keras_minibatch.tuning import strategy_comparison

            strategy_comparison.compare_search_strategies(config, search_config, workdir, resume=_RESUME.value, overwrite=_OVERWRITE.value)
            return 0
        result = tuning.search(config, search_config, workdir, resume=_RESUME.value, overwrite=_OVERWRITE.value, heartbeat_timeout=_HEARTBEAT_TIMEOUT.value)
    except search_result.SearchError as error:
        _fail(str(error), EXIT_FAILURE)
    if _SEED_VARIANCE.value and result.role != "worker":
        from keras_minibatch.tuning import seed_variance

        print(seed_variance.seed_variance_report(result, _SEED_VARIANCE.value))
    return 0


def _command_compare(config: config_lib.TrainConfig) -> int:
    from keras_minibatch.batch_sizes import config as compare_config  # Standard library only.

    _check_distribution_for("compare", config)

    budget_epochs = _BUDGET_EPOCHS.value
    if budget_epochs is None and _BUDGET_SECONDS.value is None:
        budget_epochs = config.epochs
    try:
        batch_sizes = compare_config.parse_batch_sizes(_BATCH_SIZES.value)
        compare_config.check_budget(budget_epochs, _BUDGET_SECONDS.value)
        compare_config.check_train_config(config)
    except config_lib.ConfigError as error:
        raise UsageError(f"--{error.field}={_format_flag_value(error.value)} {error.allowed}") from None
    if _WORKDIR.value:
        folder_checks.check_folder(_WORKDIR.value, run_files.BATCH_SIZE_COMPARISON, overwrite=_OVERWRITE.value)
    workdir = _take_workdir(f"compare-{config.dataset}")
    _RUN_FOLDER[0] = workdir
    _NOT_RESUMABLE[0] = "keeps the regimes that finished (comparison.csv); compare has no --resume: rerun with --overwrite to train them all"
    _quiet_tensorflow()
    from keras_minibatch.batch_sizes import comparison as compare  # Imports TensorFlow: only after every check passed.

    compare.compare_batch_sizes(config, batch_sizes, workdir, budget_epochs=budget_epochs, budget_seconds=_BUDGET_SECONDS.value, overwrite=_OVERWRITE.value)
    return 0


def _command_tensorboard() -> int:
    from keras_minibatch.dashboard import server as tensorboard_server  # Standard library only: TensorBoard runs in a child.

    logdir = _WORKDIR.value or rundir.DEFAULT_RUNS_ROOT
    if not os.path.isdir(logdir):
        raise UsageError(f"--workdir={logdir} is not a folder; pass a run folder or a folder of runs (default: runs)")
    try:
        tensorboard_server.tensorboard_command(logdir, port=_PORT.value, host=_HOST.value)
    except ValueError:
        raise UsageError(f"--host={_HOST.value} must be a loopback address (127.0.0.1, ::1 or localhost): TensorBoard has no authentication") from None
    try:
        code = tensorboard_server.serve(logdir, port=_PORT.value, host=_HOST.value)
    except tensorboard_server.PortInUseError as error:
        _fail(str(error), EXIT_FAILURE)
    return code if code in (0, EXIT_SIGTERM) else EXIT_FAILURE


def main(argv: Sequence[str]) -> int:
    """Checks the command and flags, then runs the command."""
    if len(argv) < 2:
        raise UsageError(f"no command given; use one of: {', '.join(COMMANDS)} (see --help)")
    command, *stray = argv[1:]
    if command not in COMMANDS:
        raise UsageError(f"unknown command {command!r}; use one of: {', '.join(COMMANDS)}")
    if stray:
        raise UsageError(f"unexpected arguments {' '.join(stray)!r}; flags take the form --name=value")
    if command == "tensorboard":
        return _command_tensorboard()
    config = build_config()
    check_source(config.dataset)
    if command == "train":
        return _command_train(config)
    if command == "tune":
        return _command_tune(config)
    if command == "compare":
        return _command_compare(config)
    return _command_evaluate(config)


def _print_help() -> None:
    print(__doc__)
    print("Flags:")
    print(flags.FLAGS.module_help(sys.modules[__name__]))


def _parse_flags(argv: Sequence[str]) -> list[str]:
    if any(arg in _HELP_ARGS for arg in argv[1:]):
        _print_help()
        sys.exit(0)
    if "--version" in argv[1:]:
        from keras_minibatch import __version__

        print(f"{PROG} {__version__}")
        sys.exit(0)
    if any(arg in ("--helpfull", "-helpfull") for arg in argv[1:]):
        print(__doc__)
        print(flags.FLAGS.get_help())
        sys.exit(0)
    _check_flagfiles(argv[1:])
    try:
        remaining = flags.FLAGS(list(argv))
    except (flags.Error, ValueError) as error:  # absl raises ValueError for a value given to a --noflag
        _fail(_describe_flag_error(error), EXIT_USAGE)
    if flags.FLAGS["verbosity"].using_default_value:
        flags.FLAGS.verbosity = -1  # absl would raise it to INFO; we keep library chatter to warnings.
    return remaining


_FLAG_KINDS = {"int": "an integer", "float": "a number", "bool": "true or false"}


def _check_flagfiles(args: Sequence[str]) -> None:
    """Refuses a `--flagfile` that is not a readable regular file (absl would read /dev/zero forever)."""
    for arg in args:
        if arg.startswith(("--flagfile=", "-flagfile=")):
            path = arg.split("=", 1)[1]
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                _fail(f"--flagfile={path} must name a readable file of flags, one --name=value per line", EXIT_USAGE)


def _describe_flag_error(error: Exception) -> str:
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


def _fail(message: str, exit_code: int) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(exit_code)


def resume_command(argv: Sequence[str], workdir: str) -> str:
    """Returns the command line that continues an interrupted `train` or `tune`."""
    kept = [arg for arg in argv[1:] if not arg.startswith(("--workdir", "--overwrite", "--resume", "--noresume"))]
    return shlex.join([PROG, *kept, f"--workdir={workdir}", "--resume"])


def _main_with_clean_errors(argv: Sequence[str]) -> int:
    reset_termination()
    signal.signal(signal.SIGTERM, handle_sigterm)
    _RUN_FOLDER[0] = _CREATED_FOLDER[0] = _NOT_RESUMABLE[0] = None
    try:
        return _run_and_report(argv)
    finally:
        if _CREATED_FOLDER[0] is not None:
            folder_claim.remove_if_unused(_CREATED_FOLDER[0])


def _describe_disk_error(error: OSError) -> str | None:
    """One line for a file the disk refused (full, read-only, no permission), or `None` for other errors."""
    reason = rundir.disk_refusal(error)
    if reason is None:
        return None
    where = f"cannot write {error.filename!r}" if error.filename else "cannot write the run folder"
    folder = f" {_RUN_FOLDER[0]} keeps every completed epoch or trial;" if _RUN_FOLDER[0] else ""
    return f"{where}: {reason};{folder} free space or choose another --workdir, then rerun (with --resume to continue)."


def _run_and_report(argv: Sequence[str]) -> int:
    try:
        return main(argv)
    except KeyboardInterrupt as interrupt:
        terminated = isinstance(interrupt, Terminated)
        name, code = ("SIGTERM", EXIT_SIGTERM) if terminated else ("SIGINT", EXIT_SIGINT)
        if _RUN_FOLDER[0] is None:
            _fail(f"interrupted ({name}) before anything was written", code)
        if _NOT_RESUMABLE[0] is not None:
            _fail(f"interrupted ({name}); {_RUN_FOLDER[0]} {_NOT_RESUMABLE[0]}", code)
        print(
            f"{PROG}: interrupted ({name}); {_RUN_FOLDER[0]} keeps every completed epoch or trial. "
            f"Resume with:\n  {resume_command(sys.argv if _ORIGINAL_ARGV[0] is None else _ORIGINAL_ARGV[0], _RUN_FOLDER[0])}",
            file=sys.stderr,
        )
        sys.exit(code)
    except UsageError as error:
        _fail(str(error), EXIT_USAGE)
    except (DataError, CallbackSpecError, config_lib.ConfigError, OracleAddressError) as error:
        _fail(str(error), EXIT_USAGE)
    except (rundir.RunDirError, FolderLockedError) as error:
        _fail(str(error), EXIT_FAILURE)
    except OSError as error:
        message = _describe_disk_error(error)
        if message is None:
            raise
        _fail(message, EXIT_FAILURE)
    return EXIT_FAILURE


def run(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: `keras-minibatch COMMAND [--flags]`."""
    _ORIGINAL_ARGV[0] = list(sys.argv if argv is None else argv)
    app.run(_main_with_clean_errors, argv=list(sys.argv if argv is None else argv), flags_parser=_parse_flags)


if __name__ == "__main__":
    run()
