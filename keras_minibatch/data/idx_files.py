"""Folders of IDX files (MNIST's original format): pairing image and label files, and reading them."""

from __future__ import annotations

import gzip
import math
import re
import zlib
from pathlib import Path

import numpy as np

from keras_minibatch.config import SOURCE_HELP
from keras_minibatch.data.dataset import DataError

# "train-images-idx3-ubyte.gz" -> prefix "train", dims 3.
_IDX_NAME = re.compile(
    r"^(?P<prefix>.+?)(?:-images|-labels)?[-.]idx(?P<dims>[13])-ubyte(?:\.gz)?$"
)
# Magic numbers 0x00000803 and 0x00000801: type byte 0x08 (uint8), then the rank.
_IDX_MAGIC = {3: 2051, 1: 2049}


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
            f"optionally .gz), found {names}; {SOURCE_HELP}"
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
