"""Figures without a display: a new figure on its own Agg canvas, and saving it atomically.

Figures are `matplotlib.figure.Figure` objects rendered by the Agg canvas directly, so
nothing here needs a display, imports `pyplot` or changes matplotlib's global state
(backend, current figure). Every plot module builds its figures with `new_figure`
and writes them with `save_figure`. Imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from keras_minibatch.run_folders import rundir

if TYPE_CHECKING:
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure


def new_figure(figsize: tuple[float, float]) -> Figure:
    """Returns an empty figure on its own Agg canvas.

    matplotlib is imported here, on first use, rather than with this module: a
    command that trains reaches its first training step without paying for the
    import, and pays for it only when it plots (see benchmarks/README.md).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def integer_ticks(axis: Axis) -> None:
    """Puts `axis`'s ticks on whole numbers only (epochs, trials)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def save_figure(figure: Figure, path: str | os.PathLike, *, dpi: int = 100) -> Path:
    """Writes `figure` to `path` through a temporary file in the same folder and a rename.

    The file type follows `path`'s suffix (`.png`, `.svg`, `.pdf`, ...).

    Returns:
        `path`, as a `Path`.

    Raises:
        ValueError: when matplotlib cannot write that file type.
        RunDirError: when the file system refuses the write.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    target = Path(path)
    file_type = target.suffix.lstrip(".").lower()
    supported = FigureCanvasAgg(figure).get_supported_filetypes()
    if file_type not in supported:
        raise ValueError(f"cannot save a plot as {str(target)!r}: use one of the suffixes {', '.join('.' + name for name in sorted(supported))}.")
    with rundir.atomic_path(target) as temp:
        figure.savefig(temp, format=file_type, dpi=dpi)
    return target
