"""The tensorboard command: serve run folders on a loopback address until Ctrl-C."""

from __future__ import annotations

import os

from keras_minibatch.cli import flags as cli_flags
from keras_minibatch.cli.errors import EXIT_FAILURE, EXIT_SIGTERM, UsageError, fail
from keras_minibatch.run_folders import rundir


def command_tensorboard() -> int:
    from keras_minibatch.dashboard import server as tensorboard_server  # Standard library only: TensorBoard runs in a child.

    logdir = cli_flags.WORKDIR.value or rundir.DEFAULT_RUNS_ROOT
    if not os.path.isdir(logdir):
        raise UsageError(f"--workdir={logdir} is not a folder; pass a run folder or a folder of runs (default: runs)")
    try:
        tensorboard_server.tensorboard_command(logdir, port=cli_flags.PORT.value, host=cli_flags.HOST.value)
    except ValueError:
        raise UsageError(f"--host={cli_flags.HOST.value} must be a loopback address (127.0.0.1, ::1 or localhost): TensorBoard has no authentication") from None
    try:
        code = tensorboard_server.serve(logdir, port=cli_flags.PORT.value, host=cli_flags.HOST.value)
    except tensorboard_server.PortInUseError as error:
        fail(str(error), EXIT_FAILURE)
    return code if code in (0, EXIT_SIGTERM) else EXIT_FAILURE
