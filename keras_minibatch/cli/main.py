"""keras-minibatch: train, evaluate, tune and use the lecture's mini-batch MLP.

Usage:
  keras-minibatch train [--dataset=digits] [--epochs=10] [--batch_size=32] [flags]
  keras-minibatch evaluate --model=RUN_FOLDER_OR_MODEL_FILE [--dataset=...]
  keras-minibatch tune --tuner=random|bayesian|grid|hyperband --max_trials=N [flags]
  keras-minibatch tune --compare --max_trials=N [--fix=...] [flags]
  keras-minibatch compare --batch_sizes=full,1,32 [--budget_epochs=N | --budget_seconds=S]
  keras-minibatch tensorboard [--workdir=runs] [--port=6006]
  keras-minibatch predict --model=RUN_FOLDER_OR_MODEL_FILE [--invert=auto] [--output=FILE.csv] PATH...
  keras-minibatch export --model=RUN_FOLDER_OR_MODEL_FILE --format=saved_model|tflite --output=PATH

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
  predict    Classify image files (PNG, JPEG, BMP, GIF), folders of them, or .npy/.npz
             arrays, each brought to the layout of the training images; a line per
             image: path, class, its probability, the next two classes. --output
             writes them as CSV or JSON too.
  export     Write the model as a SavedModel (serving_default signature, for TF
             Serving) or a TFLite file; both take the raw pixels model.keras takes.

Exit codes: 0 success; 1 the run failed (diverged, folder or file taken or locked, corrupt
checkpoint); 2 bad flags, arguments or input data (predict: any image it could not read);
130 / 143 stopped by Ctrl-C / SIGTERM (everything up to the last completed epoch or trial
is kept; the resume command is printed).
Every flag below is checked before TensorFlow is imported. --helpfull lists all flags.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Sequence

from absl import app, flags

from keras_minibatch.cli import flags as cli_flags
from keras_minibatch.cli import run_state
from keras_minibatch.cli.compare_command import command_compare
from keras_minibatch.cli.errors import EXIT_USAGE, PROG, UsageError, fail, run_with_clean_errors
from keras_minibatch.cli.export_command import command_export
from keras_minibatch.cli.predict_command import command_predict
from keras_minibatch.cli.tensorboard_command import command_tensorboard
from keras_minibatch.cli.train_commands import command_evaluate, command_train
from keras_minibatch.cli.tune_command import command_tune
from keras_minibatch.data.sources import check_source
from keras_minibatch.training.termination import raise_if_stop_requested

COMMANDS = ("train", "evaluate", "tune", "compare", "tensorboard", "predict", "export")

_HELP_ARGS = ("-h", "--help", "-help", "--helpshort", "-helpshort", "-?")


def main(argv: Sequence[str]) -> int:
    """Checks the command and flags, then runs the command."""
    if len(argv) < 2:
        raise UsageError(f"no command given; use one of: {', '.join(COMMANDS)} (see --help)")
    command, *stray = argv[1:]
    if command not in COMMANDS:
        raise UsageError(f"unknown command {command!r}; use one of: {', '.join(COMMANDS)}")
    if stray and command != "predict":  # predict's are its PATHs
        raise UsageError(f"unexpected arguments {' '.join(stray)!r}; flags take the form --name=value")
    if command == "tensorboard":
        return command_tensorboard()  # Ctrl-C is how a server is stopped: exit 0.
    exit_code = _run_command(command, stray)
    if exit_code == 0:
        raise_if_stop_requested()  # A Ctrl-C or SIGTERM whose exception was swallowed still ends as an interruption.
    return exit_code


def _run_command(command: str, stray: Sequence[str]) -> int:
    if command == "predict":
        return command_predict(stray)
    if command == "export":
        return command_export()
    config = cli_flags.build_config()
    check_source(config.dataset)
    if command == "train":
        return command_train(config)
    if command == "tune":
        return command_tune(config)
    if command == "compare":
        return command_compare(config)
    return command_evaluate(config)


def _print_help() -> None:
    print(__doc__)
    print("Flags:")
    print(flags.FLAGS.module_help(cli_flags.HELP_MODULE))


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
    cli_flags.check_flagfiles(argv[1:])
    try:
        remaining = flags.FLAGS(list(argv))
    except (flags.Error, ValueError) as error:  # absl raises ValueError for a value given to a --noflag
        fail(cli_flags.describe_flag_error(error), EXIT_USAGE)
    if flags.FLAGS["verbosity"].using_default_value:
        flags.FLAGS.verbosity = -1  # absl would raise it to INFO; we keep library chatter to warnings.
    return remaining


def _main_with_clean_errors(argv: Sequence[str]) -> int:
    return run_with_clean_errors(main, argv)


def run(argv: Sequence[str] | None = None) -> None:
    """Runs `keras-minibatch COMMAND [--flags]`; raises `SystemExit` with the exit code."""
    run_state.original_argv = list(sys.argv if argv is None else argv)
    app.run(_main_with_clean_errors, argv=list(sys.argv if argv is None else argv), flags_parser=_parse_flags)


def console_entry() -> None:
    """The `keras-minibatch` script (and `python -m keras_minibatch`): `run`, then end the process at once."""
    try:
        run()
    except SystemExit as done:
        _exit_now(done.code)


def _exit_now(code: object) -> None:
    """Ends the process with `code` without tearing down the interpreter.

    By now the command has closed everything it wrote (its files are committed
    by atomic renames, its writer threads joined), and tearing down TensorFlow's
    and Python's modules would only add about a second to every command. A
    thread still running keeps the normal exit, which waits for it.
    """
    if any(thread.is_alive() and not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # A closed pipe (`| head`) or stream.
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    console_entry()
