"""Keras' MNIST as a data source: the cached `mnist.npz`, downloaded only if the network answers.

Only a download imports Keras (and with it TensorFlow); a cached file is read as any `.npz`.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from keras_minibatch.data.dataset import DataError

_MNIST_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def mnist_path(cache_dir: str | None) -> Path:
    """Returns the cached `mnist.npz`, downloading it only if the network answers."""
    # Where Keras itself keeps it: KERAS_HOME, else ~/.keras (or /tmp/.keras), as keras.utils.get_file.
    if cache_dir is None:
        if "KERAS_HOME" in os.environ:
            cache_dir = os.environ["KERAS_HOME"]
        else:
            home = os.path.expanduser("~")
            cache_dir = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    base = os.path.expanduser(cache_dir)
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    path = Path(base, "datasets", "mnist.npz")
    if path.is_file():
        return path
    offline_help = (
        "use --dataset=digits, a folder of IDX files such as ../shared/data/mnist-t10k, "
        "a .npz file in Keras' MNIST layout (x_train, y_train, x_test, y_test), "
        f"or copy mnist.npz to {path}"
    )
    try:
        with socket.create_connection(("storage.googleapis.com", 443), timeout=3):
            pass
    except OSError as error:
        raise DataError(
            f"`dataset` 'mnist' is not cached at {path} and storage.googleapis.com is "
            f"unreachable ({error}); {offline_help}"
        ) from error
    import keras  # Only a download needs Keras, and with it TensorFlow.

    try:  # What keras.datasets.mnist.load_data() does, but honouring `cache_dir`.
        return Path(keras.utils.get_file(
            fname="mnist.npz", origin=_MNIST_ORIGIN, file_hash=_MNIST_SHA256,
            cache_dir=cache_dir,
        ))
    except Exception as error:  # get_file raises a bare Exception on HTTP errors.
        raise DataError(f"downloading MNIST failed ({error}); {offline_help}") from error
