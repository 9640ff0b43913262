"""Reads data sources into raw arrays: scikit-learn's digits, Keras' MNIST, `.npz`
files and folders of IDX files.

Checks of content (labels, pixel ranges, shapes) and splitting live in `data`;
this module only finds and parses files. It never imports TensorFlow at import
time: only a MNIST download imports Keras.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import re
import socket
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from keras_minibatch.config import SOURCE_NAMES

_SOURCE_HELP = (
    "use one of: mnist, digits, a .npz file (x_train, y_train, x_test, y_test) "
    "or a folder of IDX files"
)
_MNIST_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# "train-images-idx3-ubyte.gz" -> prefix "train", dims 3.
_IDX_NAME = re.compile(
    r"^(?P<prefix>.+?)(?:-images|-labels)?[-.]idx(?P<dims>[13])-ubyte(?:\.gz)?$"
)
# Magic numbers 0x00000803 and 0x00000801: type byte 0x08 (uint8), then the rank.
_IDX_MAGIC = {3: 2051, 1: 2049}


class DataError(ValueError):
    """A data source is missing or malformed; the message names the fix."""


@dataclasses.dataclass
class RawArrays:
    """Arrays as a source holds them, before checks and scaling."""

    arrays: dict[str, np.ndarray]  # x_train, y_train and, if given, x_test, y_test
    where: dict[str, str]  # same keys: file or field to name in error messages
    source: str
    num_classes: int | None = None  # None: max label + 1
    pixel_scale: float | None = None  # None: decided from dtype and range


def source_kind(source: str) -> tuple[str, Path | None]:
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if isinstance(source, str) and source in SOURCE_NAMES:
        return source, None
    path = Path(source).expanduser() if isinstance(source, str) and source else None
    if path is not None and path.is_dir():
        find_idx_pairs(path)
        return "idx", path
    if path is not None and path.is_file():
        if path.suffix == ".npz":
            return "npz", path
        raise DataError(f"`dataset` {source!r} is a file but not a .npz file; {_SOURCE_HELP}")
    raise DataError(
        f"`dataset` {source!r} is not a known source or an existing path; {_SOURCE_HELP}"
    )


def load_digits() -> RawArrays:
    from sklearn import datasets as sklearn_datasets  # Deferred: slow to import.

    digits = sklearn_datasets.load_digits()
    return RawArrays(
        arrays={"x_train": digits.images, "y_train": digits.target},
        where={"x_train": "digits images", "y_train": "digits labels"},
        source=f"digits (scikit-learn, {len(digits.images)} images 8x8)",
        num_classes=10,
        pixel_scale=16.0,
    )


def mnist_path(cache_dir: str | None) -> Path:
    """Returns the cached `mnist.npz`, downloading it only if the network answers."""
    # Mirrors keras.src.backend.config (_KERAS_DIR) and keras.utils.get_file.
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


def _check_npz_sizes(path: Path) -> None:
    """Refuses a member whose `.npy` header declares more data than the member holds (before NumPy allocates it).

    Raises:
        ValueError: naming the member, what its header declares and what it holds.
    """
    if not zipfile.is_zipfile(path):
        return  # np.load says what it is instead.
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(member)
                declared = math.prod(shape) * dtype.itemsize
                held = info.file_size - member.tell()
            if declared > held:
                raise ValueError(f"member {info.filename!r} declares {shape} {dtype} ({declared:,} bytes) but holds {held:,} bytes")


def load_npz(path: Path) -> RawArrays:
    try:
        _check_npz_sizes(path)
        with open(path, "rb") as stream:  # np.load(path) leaves the file open when the zip is damaged
            loaded = np.load(stream, allow_pickle=False)
            if isinstance(loaded, np.ndarray):
                raise ValueError("it holds a single .npy array")
            with loaded as archive:
                arrays = {key: archive[key] for key in archive.files}
    except MemoryError as error:
        raise DataError(f"{path} holds more data than this machine's memory; use a smaller file or --max_train_samples on a smaller copy") from error
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(
            f"{path} could not be read as a .npz archive ({error}); write one with "
            "numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
        ) from error
    found = set(arrays)
    if set(_NPZ_KEYS) <= found:
        keys = dict(zip(_NPZ_KEYS, _NPZ_KEYS))
    elif {"x_train", "y_train"} <= found and not {"x_test", "y_test"} & found:
        keys = {"x_train": "x_train", "y_train": "y_train"}
    elif {"x", "y"} <= found and not {"x_test", "y_test"} & found:
        keys = {"x_train": "x", "y_train": "y"}
    else:
        raise DataError(
            f"{path} holds arrays {sorted(found)}; expected x_train, y_train, x_test, "
            "y_test (Keras' MNIST layout), or only x_train, y_train or x, y to carve a "
            "test split from"
        )
    return RawArrays(
        arrays={name: arrays[key] for name, key in keys.items()},
        where={name: f"`{key}` in {path}" for name, key in keys.items()},
        source=str(path),
    )


def find_idx_pairs(folder: Path) -> dict[str, dict[int, Path]]:
    """Maps each file prefix ("train", "t10k") to its image (3) and label (1) files."""
    pairs: dict[str, dict[int, Path]] = {}
    for path in sorted(folder.iterdir()):
        match = _IDX_NAME.match(path.name)
        if not match or not path.is_file():
            continue
        slot = pairs.setdefault(match["prefix"], {})
        dims = int(match["dims"])
        if dims in slot:
            raise DataError(
                f"{folder} holds two IDX files for '{match['prefix']}': "
                f"{slot[dims].name} and {path.name}; keep one"
            )
        slot[dims] = path
    if not pairs:
        names = sorted(p.name for p in folder.iterdir())[:5]
        raise DataError(
            f"{folder} holds no IDX files (names ending in -idx3-ubyte or -idx1-ubyte, "
            f"optionally .gz), found {names}; {_SOURCE_HELP}"
        )
    for prefix, slot in pairs.items():
        if len(slot) == 1:
            (dims, path), = slot.items()
            missing = "labels (-idx1-ubyte)" if dims == 3 else "images (-idx3-ubyte)"
            raise DataError(
                f"{path} has no matching {missing} file with prefix '{prefix}' in {folder}; "
                "pair e.g. train-images-idx3-ubyte with train-labels-idx1-ubyte"
            )
    return pairs


def load_idx_folder(folder: Path) -> RawArrays:
    pairs = find_idx_pairs(folder)
    if len(pairs) == 1:
        prefixes = {"train": next(iter(pairs))}
    else:
        train = [p for p in pairs if "train" in p]
        test = [p for p in pairs if "t10k" in p or "test" in p]
        if len(pairs) != 2 or len(train) != 1 or len(test) != 1 or train == test:
            raise DataError(
                f"{folder} holds IDX pairs {sorted(pairs)}; expected one pair, or two whose "
                "names contain 'train' and 't10k' (or 'test')"
            )
        prefixes = {"train": train[0], "test": test[0]}
    arrays, where = {}, {}
    for split, prefix in prefixes.items():
        for name, dims in ((f"x_{split}", 3), (f"y_{split}", 1)):
            arrays[name] = read_idx(pairs[prefix][dims], dims)
            where[name] = str(pairs[prefix][dims])
    return RawArrays(arrays=arrays, where=where, source=str(folder))


def read_idx(path: Path, dims: int) -> np.ndarray:
    """Reads one uint8 IDX file (big-endian header: magic, then one uint32 per dim)."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as stream:
            data = stream.read()
    except MemoryError as error:
        raise DataError(f"{path} decompresses to more data than this machine's memory") from error
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError.
        raise DataError(f"{path} could not be read ({error})") from error
    magic = int.from_bytes(data[:4], "big")
    if len(data) >= 4 and magic != _IDX_MAGIC[dims]:
        raise DataError(
            f"{path} has IDX magic number {magic}; expected {_IDX_MAGIC[dims]} (uint8 "
            f"{'images' if dims == 3 else 'labels'}, {dims} dims)"
        )
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(
            f"{path} is truncated: {len(data)} bytes, less than its {header}-byte IDX header"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=dims, offset=4))
    expected, found = math.prod(shape), len(data) - header
    if found != expected:
        problem = "truncated" if found < expected else "longer than its header says"
        raise DataError(
            f"{path} is {problem}: header promises {shape} = {expected} bytes of data, "
            f"found {found}"
        )
    return np.frombuffer(data, np.uint8, count=expected, offset=header).reshape(shape)
