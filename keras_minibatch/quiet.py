"""Imports TensorFlow for a command: its start-up chatter out of the way, errors kept.

TensorFlow's C++ core logs INFO lines (oneDNN, CPU features) through absl
*before* `TF_CPP_MIN_LOG_LEVEL` is read, straight to file descriptor 2. So the
import runs with descriptor 2 captured in a temporary file; afterwards every line
that is not INFO or WARNING chatter (errors, fatal messages, Python warnings,
tracebacks) is written back to stderr. Keras is imported without the optional
packages it would load for features the commands never use (`hidden_modules`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence

# absl C++ log records: "I0000 00:00:1795855872.398840    5682 port.cc:153] ...".
_LOG_RECORD = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_CHATTER_RECORD = re.compile(r"^[IW]\d{4} ")
_CHATTER_LINES = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",)


def filter_chatter(text: str) -> str:
    """Returns `text` without INFO/WARNING log records (and their continuation lines)."""
    kept: list[str] = []
    dropping = False
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") in _CHATTER_LINES:
            dropping = False
            continue
        if _LOG_RECORD.match(line):
            dropping = bool(_CHATTER_RECORD.match(line))
        elif line.startswith(("Traceback", "WARNING", "ERROR")) or "Warning:" in line:
            dropping = False
        if not dropping:
            kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Captures descriptor 2 inside the block, then replays all but the chatter."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            remaining = filter_chatter(capture.read().decode("utf-8", errors="replace"))
            if remaining:
                sys.stderr.write(remaining)
                sys.stderr.flush()


# Keras 3 imports these on `import keras` whenever they are installed, for features the
# commands never use (`keras.wrappers` needs scikit-learn, `keras.visualization`
# matplotlib.pyplot): a noticeable share of every command's start-up time and memory
# (docs/performance.md).
KERAS_OPTIONAL_IMPORTS = ("sklearn", "matplotlib")


@contextlib.contextmanager
def hidden_modules(names: Sequence[str]) -> Iterator[None]:
    """Makes `import name` fail inside the block for those `names` not yet imported.

    A `None` entry in `sys.modules` makes Python raise `ImportError`, which Keras
    takes as "not installed"; the entries are removed afterwards, so later imports
    (the digits loader's scikit-learn, the plots' matplotlib) load them as usual.
    """
    if isinstance(names, str):
        raise TypeError(f"hidden_modules takes a list of module names, not the string {names!r}")
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and Keras for a command, quietly and without Keras' extras.

    The start-up chatter is filtered out (a user who set `TF_CPP_MIN_LOG_LEVEL=0`
    asked for everything and gets it), and Keras is imported with
    `KERAS_OPTIONAL_IMPORTS` hidden. Keras binds its fallbacks at import, so in a
    command's process (its `--callbacks` plugins included) the scikit-learn
    classes of `keras.wrappers` and the plots of `keras.visualization` stay
    unavailable. Only the command line does this: a script importing the
    library gets Keras as it comes.
    """
    with hidden_modules(KERAS_OPTIONAL_IMPORTS):
        if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
            import keras
            import tensorflow

            return
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with quiet_stderr():
            import keras
            import tensorflow
    logging.getLogger("tensorflow").addFilter(_drop_retracing_notes)


def _drop_retracing_notes(record: logging.LogRecord) -> bool:
    # Every new model traces its own step once; `tune` builds many models with few calls
    # per epoch (fused steps), and TensorFlow's frequent-retracing heuristic (keyed by
    # reused function ids) then warns about tracing that is expected.
    return "triggered tf.function retracing" not in record.getMessage()
