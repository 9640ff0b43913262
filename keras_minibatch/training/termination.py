"""Ctrl-C and SIGTERM as exceptions that stop training, and are not lost on the way.

The command line turns SIGINT into `KeyboardInterrupt` (as Python does) and
SIGTERM into `Terminated`, a `KeyboardInterrupt`, raised wherever the main
thread happens to be, so training stops between steps and the run folder keeps
every finished epoch, trial or regime. An exception raised at an arbitrary
point can still be swallowed before it reaches the command: Python only prints
"Exception ignored" for one raised inside a weakref callback or `__del__`
during garbage collection, and a test that sent Ctrl-C to `compare` saw the
command run on to the end and exit 0. So the request is also remembered: the
`RaiseOnStopRequest` callback (`termination_callback.py`), which `train`, the
search's trials and `compare`'s regimes fit with, raises it again at the next
batch or epoch end, and the command line raises it once more when a command
returns, so an interrupted run never exits as a success.

Standard library only: the command line installs `handle_stop_signal` before
TensorFlow is imported. Nothing here acts unless it is installed, so library
callers are unaffected.
"""

from __future__ import annotations

import signal


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so training stops between steps like on Ctrl-C."""


# Process-wide, like the signal itself; only `handle_stop_signal` sets it.
_requested: int | None = None


def handle_stop_signal(signum: int, frame: object) -> None:
    """A `signal.signal` handler for SIGINT and SIGTERM: remembers the request, then raises it."""
    global _requested
    _requested = signum
    raise_if_stop_requested()


def forget_stop_request() -> None:
    """Forgets an earlier request: the command line calls it before it installs the handler and when it returns."""
    global _requested
    _requested = None


def raise_if_stop_requested() -> None:
    """Raises `Terminated` (SIGTERM) or `KeyboardInterrupt` (SIGINT) again if one arrived.

    Its first exception may have been lost.
    """
    if _requested == signal.SIGTERM:
        raise Terminated()
    if _requested is not None:
        raise KeyboardInterrupt()
