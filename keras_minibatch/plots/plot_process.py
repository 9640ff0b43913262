"""A run's plots, drawn in a process of their own while the run goes on.

Importing matplotlib and drawing a run's two figures take a noticeable share of
a short run's time, all of it Python that would hold the training process's
interpreter lock. `PlotProcess` starts a second Python process at the start of a
run; it imports matplotlib while the run loads its data and trains (on another
core), then draws each figure as soon as the run hands it the figure's inputs.
`finish` waits for it and raises what drawing raised, so the run writes
`metrics.json` (its last file) only once the plots are in place. Where no
process can be started, the figures are drawn in this one, as they are handed
over. The second process runs `run_second_process`: one JSON request per line on
its standard input. Standard library only until a figure is drawn.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from keras_minibatch.run_folders.rundir import RunDirError

__all__ = ["PlotProcess"]

# The folder holding this `keras_minibatch` package: the second process imports the same one,
# whatever its current folder or PYTHONPATH hold.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_SECOND_PROCESS = "import sys; sys.path.insert(0, sys.argv[1]); from keras_minibatch.plots.plot_process import run_second_process; run_second_process()"


class PlotProcess:
    """Draws a run's figures in a second process; use as a context manager.

    Leaving the block without `finish` (an error, Ctrl-C) stops the process
    and leaves unfinished figures undrawn.
    """

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process: subprocess.Popen | None = subprocess.Popen(
                [sys.executable, "-c", _SECOND_PROCESS, _PACKAGE_ROOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            )
        except OSError:  # No interpreter to start (an embedded Python): draw here instead.
            self._process = None

    def __enter__(self) -> PlotProcess:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            for stream in (self._process.stdin, self._process.stdout):
                with contextlib.suppress(OSError):  # A pipe to a killed process may refuse its last flush.
                    stream.close()
            self._process.wait()
        self._stderr.close()

    def learning_curves(self, history: Mapping[str, Sequence[float]], path: str | os.PathLike) -> None:
        """Draws `training_plots.plot_learning_curves(history, path)`."""
        self._request({"plot": "learning_curves", "path": os.fspath(path), "history": {key: [float(value) for value in values] for key, values in history.items()}})

    def confusion_matrix(self, matrix: Any, path: str | os.PathLike, *, title: str) -> None:
        """Draws the heat map of `matrix` (counts, rows true and columns predicted) to `path`."""
        self._request({"plot": "confusion_matrix", "path": os.fspath(path), "matrix": [[int(count) for count in row] for row in matrix], "title": title})

    def finish(self) -> None:
        """Waits until every figure handed over is drawn.

        Raises:
            RunDirError: when a figure could not be written (a full disk).
            RuntimeError: when drawing failed otherwise.
        """
        if self._process is None:
            return
        output, _ = self._process.communicate()
        if self._process.returncode == 0:
            return
        try:
            failure = json.loads(output.decode("utf-8").strip().splitlines()[-1])
        except (ValueError, IndexError):
            self._stderr.seek(0)
            lines = self._stderr.read().decode("utf-8", errors="replace").strip().splitlines()
            failure = {"kind": "exit", "message": lines[-1] if lines else f"exit status {self._process.returncode}"}
        if failure["kind"] == "RunDirError":
            raise RunDirError(failure["message"])
        raise RuntimeError(f"drawing the run's plots failed ({failure['kind']}: {failure['message']})")

    def _request(self, request: dict[str, Any]) -> None:
        if self._process is None:
            _draw(request)
            return
        try:
            self._process.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            self._process.stdin.flush()
        except BrokenPipeError:
            pass  # It stopped on an earlier error, which `finish` reports.


def _draw(request: Mapping[str, Any]) -> None:
    from keras_minibatch.plots import figures, training_plots

    if request["plot"] == "learning_curves":
        training_plots.plot_learning_curves(request["history"], request["path"])
    else:
        figures.save_figure(training_plots.confusion_matrix_figure(request["matrix"], title=request["title"]), request["path"])


def _warm_up() -> None:
    """Draws both kinds of figure once, into memory, while the run trains.

    The first figure a process draws pays for matplotlib's import, its fonts,
    text layout and colour maps: about as long again as the drawing itself.
    """
    import io

    from keras_minibatch.plots import training_plots

    for figure in (
        training_plots.learning_curves_figure({"loss": [1.0, 0.5], "val_loss": [1.0, 0.6]}, metrics=("loss",)),
        training_plots.confusion_matrix_figure([[1, 0], [0, 1]]),
    ):
        figure.savefig(io.BytesIO(), format="png")


def serve() -> int:
    """The second process: draws each request read from standard input; returns the exit status."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the run, which stops this process itself.
    _warm_up()
    for line in sys.stdin:
        try:
            _draw(json.loads(line))
        except Exception as error:  # Reported to the run as one line; it raises it there.
            kind = "RunDirError" if isinstance(error, RunDirError) else type(error).__name__
            print(json.dumps({"kind": kind, "message": str(error)}))
            return 1
    return 0


def run_second_process() -> None:
    """The second process's whole life: `serve`, then leave at once."""
    status = serve()
    sys.stdout.flush()
    # Every figure is written and closed: the interpreter's teardown (a noticeable part of a
    # second with matplotlib loaded) would only delay the run, which waits for this exit.
    os._exit(status)
