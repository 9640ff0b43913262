"""One line naming the machine and the library versions a benchmark ran on."""

from __future__ import annotations

import importlib.metadata
import os
import platform


def machine() -> str:
    """Returns `"machine: <cpu>, N cores, load average ...; Python ..., TensorFlow ..., ..."`."""
    import keras
    import numpy as np
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            cpu = next(line.split(":", 1)[1].strip() for line in stream if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", load average %.2f %.2f %.2f" % os.getloadavg() if hasattr(os, "getloadavg") else ""
    try:
        tuner = f", KerasTuner {importlib.metadata.version('keras-tuner')}"
    except importlib.metadata.PackageNotFoundError:
        tuner = ""
    return (f"machine: {cpu}, {os.cpu_count()} cores{load}; Python {platform.python_version()}, TensorFlow "
            f"{tf.__version__}, Keras {keras.__version__} ({keras.backend.backend()}){tuner}, NumPy {np.__version__}")
