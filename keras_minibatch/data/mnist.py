"""Keras' MNIST and Fashion-MNIST as data sources: their cached files, downloaded only if the network answers.

The files are those `keras.datasets.mnist.load_data()` and
`keras.datasets.fashion_mnist.load_data()` keep in Keras' cache: `mnist.npz`,
and a folder of four gzip'd IDX files for Fashion-MNIST. Only a download imports
Keras (and with it TensorFlow); cached files are read as any `.npz` or IDX folder.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from keras_minibatch.data.dataset import DataError

_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# Per source: the folder under Keras' cache and the files Keras downloads into it, with the
# sha256 Keras checks where it checks one (it checks none for Fashion-MNIST).
_CACHED_FILES: dict[str, tuple[str, tuple[tuple[str, str | None], ...]]] = {
    "mnist": ("datasets", (("mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),)),
    "fashion_mnist": ("datasets/fashion-mnist", tuple((name, None) for name in (
        "train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
    ))),
}
_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def _cache_base(cache_dir: str | None) -> str:
    """Where Keras itself keeps its datasets: KERAS_HOME, else ~/.keras (or /tmp/.keras), as keras.utils.get_file."""
    if cache_dir is None:
        if "KERAS_HOME" in os.environ:
            cache_dir = os.environ["KERAS_HOME"]
        else:
            home = os.path.expanduser("~")
            cache_dir = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    base = os.path.expanduser(cache_dir)
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return base


def keras_source_path(name: str, cache_dir: str | None) -> Path:
    """Returns a Keras dataset's cached data, downloading what is missing only if the network answers.

    Args:
        name: `"mnist"` or `"fashion_mnist"`.
        cache_dir: Keras' cache folder; `None` means Keras' default (`$KERAS_HOME`, else `~/.keras`).

    Returns:
        MNIST's `mnist.npz` file, or Fashion-MNIST's folder of IDX files.

    Raises:
        DataError: when the files are not cached and cannot be downloaded, naming the alternatives.
    """
    subdir, files = _CACHED_FILES[name]
    folder = Path(_cache_base(cache_dir), subdir)
    found = folder / files[0][0] if len(files) == 1 else folder
    missing = [(file_name, file_hash) for file_name, file_hash in files if not (folder / file_name).is_file()]
    if not missing:
        return found
    where = f"{found}" + (f" ({', '.join(file_name for file_name, _ in missing)} missing)" if len(missing) < len(files) else "")
    copy_hint = f"copy mnist.npz to {found}" if name == "mnist" else f"copy Keras' four Fashion-MNIST files ({', '.join(f for f, _ in files)}) to {folder}"
    offline_help = (
        "use --dataset=digits, a folder of IDX files such as ../shared/data/mnist-t10k, "
        f"a .npz file in Keras' MNIST layout (x_train, y_train, x_test, y_test), or {copy_hint}"
    )
    try:
        with socket.create_connection(("storage.googleapis.com", 443), timeout=3):
            pass
    except OSError as error:
        raise DataError(
            f"`dataset` {name!r} is not cached at {where} and storage.googleapis.com is "
            f"unreachable ({error}); {offline_help}"
        ) from error
    import keras  # Only a download needs Keras, and with it TensorFlow.

    try:  # What keras.datasets.<name>.load_data() does, but honouring `cache_dir`.
        for file_name, file_hash in missing:
            downloaded = Path(keras.utils.get_file(
                fname=file_name, origin=_ORIGIN + file_name, file_hash=file_hash, cache_dir=cache_dir, cache_subdir=subdir,
            ))
    except Exception as error:  # get_file raises a bare Exception on HTTP errors.
        raise DataError(f"downloading {_TITLES[name]} failed ({error}); {offline_help}") from error
    return downloaded if len(files) == 1 else downloaded.parent
