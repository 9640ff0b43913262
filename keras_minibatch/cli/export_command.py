"""The export command: check its flags and the target, then write a SavedModel folder or a TFLite file and say what it takes."""

from __future__ import annotations

from keras_minibatch.checks import ConfigError
from keras_minibatch.cli import flags as cli_flags
from keras_minibatch.cli import preflight
from keras_minibatch.cli.errors import UsageError
from keras_minibatch.inference.export_target import FORMATS, check_export_target
from keras_minibatch.training.evaluation import resolve_model_path

_FORMAT_NAMES = {"saved_model": "SavedModel", "tflite": "TFLite"}


def command_export() -> int:
    for flag, what in (("model", "a .keras file or a run folder"), ("format", " or ".join(FORMATS)), ("output", "the SavedModel folder or the .tflite file to write")):
        if not getattr(cli_flags, flag.upper()).value:
            raise UsageError(f"--{flag} is required for export: {what}")
    try:
        check_export_target(cli_flags.OUTPUT.value, cli_flags.FORMAT.value, overwrite=cli_flags.OVERWRITE.value)
    except ConfigError as error:
        raise cli_flags.flag_usage_error(error) from None
    resolve_model_path(cli_flags.MODEL.value)
    preflight.quiet_tensorflow()
    from keras_minibatch.inference.export import SIGNATURE, export_model  # Imports TensorFlow: only after every check passed.

    result = export_model(cli_flags.MODEL.value, cli_flags.OUTPUT.value, format=cli_flags.FORMAT.value, overwrite=cli_flags.OVERWRITE.value)
    print(f"model:  {result.model}")
    print(f"export: {result.path} ({_FORMAT_NAMES[result.format]}, signature {SIGNATURE})")
    print(f"input:  {result.input}")
    print(f"output: {result.output}")
    return 0
