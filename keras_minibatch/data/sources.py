"""Reads a data source into raw arrays: scikit-learn's digits, Keras' MNIST and
Fashion-MNIST, `.npz` files and folders of IDX files.

Checks of content (labels, pixel ranges, shapes) and splitting live in
`data.loading`; this module only finds sources and parses their files. It never
imports TensorFlow at import time: only a MNIST download imports Keras.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from keras_minibatch.config import SOURCE_HELP, SOURCE_NAMES
from keras_minibatch.data.dataset import DataError
from keras_minibatch.data.idx_files import find_idx_pairs, read_idx
from keras_minibatch.data.mnist import keras_source_path

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# scikit-learn's digits count the ink of 4x4 blocks of a 32x32 bitmap: whole levels 0..16.
DIGITS_PIXEL_SCALE = 16.0


@dataclasses.dataclass
class RawArrays:
    """Arrays as a source holds them, before checks and scaling."""

    arrays: dict[str, np.ndarray]  # x_train, y_train and, if given, x_test, y_test
    where: dict[str, str]  # same keys: file or field to name in error messages
    source: str
    num_classes: int | None = None  # None: max label + 1
    pixel_scale: float | None = None  # None: decided from dtype and range


def source_kind(source: str) -> tuple[str, Path | None]:
    """Tells which kind of source `source` names, without reading its data.

    Returns:
        `(kind, path)`: `("mnist", None)`, `("fashion_mnist", None)`,
        `("digits", None)`, `("npz", file)` or `("idx", folder)`.

    Raises:
        DataError: If `source` is none of these, or the folder holds no usable IDX pairs.
    """
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
        raise DataError(f"`dataset` {source!r} is a file but not a .npz file; {SOURCE_HELP}")
    raise DataError(
        f"`dataset` {source!r} is not a known source or an existing path; {SOURCE_HELP}"
    )


def check_source(source: str) -> None:
    """Checks cheaply, without reading data or importing Keras, that `source` exists.

    Args:
        source: A name in `SOURCE_NAMES`, a `.npz` file, or a folder of IDX files.

    Raises:
        DataError: If `source` is none of these, or the folder holds no
            usable IDX pairs.
    """
    source_kind(source)


def read_source(source: str, cache_dir: str | None = None) -> RawArrays:
    """Finds `source` and reads its arrays as they are, unchecked.

    Args:
        source: A name in `SOURCE_NAMES`, a `.npz` file, or a folder of IDX files.
        cache_dir: Keras cache folder for MNIST and Fashion-MNIST (see `mnist.keras_source_path`).

    Returns:
        The source's `RawArrays`.

    Raises:
        DataError: If the source is missing or its files cannot be read.
    """
    kind, path = source_kind(source)
    if kind == "digits":
        return load_digits()
    if kind == "mnist":
        raw = load_npz(keras_source_path(kind, cache_dir))
        raw.source, raw.num_classes = f"mnist (Keras, {raw.source})", 10
        return raw
    if kind == "fashion_mnist":
        raw = load_idx_folder(keras_source_path(kind, cache_dir))
        raw.source, raw.num_classes = f"fashion_mnist (Keras, {raw.source})", 10
        return raw
    if kind == "npz":
        return load_npz(path)
    return load_idx_folder(path)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as `load_digits` returns them: `(images, target)`.

    Read straight from the file scikit-learn ships (`load_digits` parses the
    same file the same way): importing scikit-learn would take longer than a
    digits run's training. Falls back to `load_digits` when the file is not
    where this scikit-learn keeps it.
    """
    spec = importlib.util.find_spec("sklearn")  # Finds the package without importing it.
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder, "datasets", "data", "digits.csv.gz")
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn import datasets as sklearn_datasets

    digits = sklearn_datasets.load_digits()
    return digits.images, digits.target


def load_digits() -> RawArrays:
    images, target = _digits_arrays()
    return RawArrays(
        arrays={"x_train": images, "y_train": target},
        where={"x_train": "digits images", "y_train": "digits labels"},
        source=f"digits (scikit-learn, {len(images)} images 8x8)",
        num_classes=10,
        pixel_scale=DIGITS_PIXEL_SCALE,
    )


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
    """Reads a `.npz` archive holding both splits, or one split to carve a test split from."""
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


def load_idx_folder(folder: Path) -> RawArrays:
    """Reads a folder's IDX pair, or its train and test pairs (`t10k` or `test` in the name)."""
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
