"""SIGTERM as an exception that stops training, and is not lost on the way.

The command line turns SIGTERM into `Terminated`, a `KeyboardInterrupt`, raised
wherever the main thread happens to be, so training stops between steps as on
Ctrl-C and the run folder keeps every finished epoch or trial. An exception
raised at an arbitrary point can still be swallowed before it reaches the
command: in a test that sends SIGTERM to a search, an occasional run went on to
the end. So the request is also remembered, and the `RaiseWhenTerminated`
callback (`termination_callback.py`), which `train` and the search's trials fit
with, raises it again at the next batch or epoch end.

Standard library only: the command line installs `handle_sigterm` before
TensorFlow is imported. Nothing here acts unless it is installed, so library
callers are unaffected.
"""

from __future__ import annotations


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so training stops between steps like on Ctrl-C."""


# Process-wide, like the signal itself; only `handle_sigterm` sets it.
_requested = False


def handle_sigterm(signum: int, frame: object) -> None:
    """A `signal.signal` handler: remembers the request, then raises `Terminated`."""
    global _requested
    _requested = True
    raise Terminated()


def reset_termination() -> None:
    """Forgets an earlier SIGTERM: the command line calls it before it installs the handler."""
    global _requested
    _requested = False


def raise_if_terminated() -> None:
    """Raises `Terminated` again if SIGTERM arrived (its first exception may have been lost)."""
    if _requested:
        raise Terminated()
