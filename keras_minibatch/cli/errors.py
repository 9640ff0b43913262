"""How the command line ends: exit codes, one-line errors, and what Ctrl-C, SIGTERM and a full disk print.

Every error the user can fix is one line on stderr, `keras-minibatch: error: ...`, and
an exit code (see the usage text in `main`); a run that is interrupted says which folder
keeps its completed epochs or trials and prints the command that resumes it.
"""

from __future__ import annotations

import shlex
import signal
import sys
from collections.abc import Callable, Sequence

from keras_minibatch.checks import ConfigError
from keras_minibatch.cli import run_state
from keras_minibatch.data.dataset import DataError
from keras_minibatch.run_folders import folder_claim
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.locking import FolderLockedError
from keras_minibatch.training.plugins import CallbackFailedError, CallbackSpecError
from keras_minibatch.training.termination import Terminated, forget_stop_request, handle_stop_signal
from keras_minibatch.tuning.oracle_address import OracleAddressError

PROG = "keras-minibatch"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130  # 128 + signal number, as shells report it.
EXIT_SIGTERM = 143


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def fail(message: str, exit_code: int) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(exit_code)


def resume_command(argv: Sequence[str], workdir: str) -> str:
    """Returns the command line that continues an interrupted `train` or `tune`."""
    kept = [arg for arg in argv[1:] if not arg.startswith(("--workdir", "--overwrite", "--resume", "--noresume"))]
    return shlex.join([PROG, *kept, f"--workdir={workdir}", "--resume"])


def run_with_clean_errors(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> int:
    """Runs `main(argv)` with Ctrl-C and SIGTERM handled and its errors reported as one line and an exit code."""
    forget_stop_request()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, handle_stop_signal)
    # Only Python's own SIGINT handler is replaced: one ignored by whoever started us (`nohup`, a
    # script's background job) stays ignored, and an in-process caller's own handler stays in charge.
    if previous[signal.SIGINT] is signal.default_int_handler:
        signal.signal(signal.SIGINT, handle_stop_signal)
    run_state.clear()
    try:
        return _run_and_report(main, argv)
    finally:
        if run_state.created_folder is not None:
            folder_claim.remove_if_unused(run_state.created_folder)
        for signum, handler in previous.items():  # A caller in-process gets its own handlers back,
            signal.signal(signum, handler)
        forget_stop_request()  # and a later training of theirs no stop request of this command.


def describe_disk_error(error: OSError) -> str | None:
    """One line for a file the disk refused (full, read-only, no permission), or `None` for other errors."""
    reason = rundir.disk_refusal(error)
    if reason is None:
        return None
    where = f"cannot write {error.filename!r}" if error.filename else "cannot write the run folder"
    folder = f" {run_state.run_folder} keeps every completed epoch or trial;" if run_state.run_folder else ""
    return f"{where}: {reason};{folder} free space or choose another --workdir, then rerun (with --resume to continue)."


def _run_and_report(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> int:
    try:
        return main(argv)
    except KeyboardInterrupt as interrupt:
        terminated = isinstance(interrupt, Terminated)
        name, code = ("SIGTERM", EXIT_SIGTERM) if terminated else ("SIGINT", EXIT_SIGINT)
        if run_state.run_folder is None:
            fail(f"interrupted ({name}) before anything was written", code)
        if run_state.not_resumable is not None:
            fail(f"interrupted ({name}); {run_state.run_folder} {run_state.not_resumable}", code)
        print(
            f"{PROG}: interrupted ({name}); {run_state.run_folder} keeps every completed epoch or trial. "
            f"Resume with:\n  {resume_command(sys.argv if run_state.original_argv is None else run_state.original_argv, run_state.run_folder)}",
            file=sys.stderr,
        )
        sys.exit(code)
    except UsageError as error:
        fail(str(error), EXIT_USAGE)
    except (DataError, CallbackSpecError, ConfigError, OracleAddressError) as error:
        fail(str(error), EXIT_USAGE)
    except (rundir.RunDirError, FolderLockedError, CallbackFailedError) as error:
        fail(str(error), EXIT_FAILURE)
    except OSError as error:
        message = describe_disk_error(error)
        if message is None:
            raise
        fail(message, EXIT_FAILURE)
    return EXIT_FAILURE
