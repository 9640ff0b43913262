"""Whether a person watches the output: a live progress line on a terminal, plain lines anywhere else."""

from __future__ import annotations

import os
import sys

from keras_minibatch.cli import flags as cli_flags


def show_progress_bar() -> bool:
    """Whether `train` and `tune` show live progress lines, decided once for both.

    `--progress=bar` shows them and `--progress=lines` never does. `auto` shows
    them only on a terminal that can take them: plain lines (one per epoch, no
    carriage return, no escape code) when stdout is a pipe or a file, when
    `NO_COLOR` is set to any non-empty value (no-color.org: a person asking
    for plain output) or
    when `TERM=dumb` (a terminal that cannot clear a line).
    """
    if cli_flags.PROGRESS.value != "auto":
        return cli_flags.PROGRESS.value == "bar"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()
