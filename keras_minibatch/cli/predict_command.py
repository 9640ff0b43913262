"""The predict command: check its flags and PATHs, then classify each image and print a line for it.

The lines go to standard output and nothing else does; notes (folders' skipped
files) and the images that could not be read go to standard error, one line each,
and the exit code is 2 when any could not be read.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from keras_minibatch.checks import ConfigError
from keras_minibatch.cli import flags as cli_flags
from keras_minibatch.cli import preflight
from keras_minibatch.cli.errors import EXIT_USAGE, PROG, UsageError
from keras_minibatch.inference.input_files import list_inputs
from keras_minibatch.inference.prediction_files import check_output_file, format_line, write_predictions
from keras_minibatch.training.evaluation import resolve_model_path


def command_predict(paths: Sequence[str]) -> int:
    if not cli_flags.MODEL.value:
        raise UsageError("--model is required for predict: a .keras file or a run folder")
    from keras_minibatch.inference.preprocessing import check_invert  # Loads Pillow: only predict needs it.

    try:
        invert = check_invert(cli_flags.INVERT.value)
        if cli_flags.OUTPUT.value:
            check_output_file(cli_flags.OUTPUT.value, overwrite=cli_flags.OVERWRITE.value)
    except ConfigError as error:
        raise cli_flags.flag_usage_error(error) from None
    list_inputs(paths)
    resolve_model_path(cli_flags.MODEL.value)
    preflight.quiet_tensorflow()
    from keras_minibatch.inference.prediction import predict  # Imports TensorFlow: only after every check passed.

    predictions = predict(cli_flags.MODEL.value, paths, invert=invert)
    for row in predictions.rows:
        print(format_line(row))
    sys.stdout.flush()
    for folder, count in predictions.skipped:
        print(f"note: skipped {count} {'entry' if count == 1 else 'entries'} of {folder!r} that {'is' if count == 1 else 'are'} not an image", file=sys.stderr)
    for note in predictions.notes:
        print(f"note: {note}", file=sys.stderr)
    for _, reason in predictions.failures:
        print(f"{PROG}: error: {reason}", file=sys.stderr)
    if cli_flags.OUTPUT.value:
        write_predictions(cli_flags.OUTPUT.value, predictions)
        print(f"note: {len(predictions.rows)} predictions written to {cli_flags.OUTPUT.value}", file=sys.stderr)
    return EXIT_USAGE if predictions.failures else 0
