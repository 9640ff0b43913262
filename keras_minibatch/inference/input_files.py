"""Which files `predict`'s PATH arguments name: image files, folders of them, NumPy arrays of images.

Standard library (and `DataError`, with NumPy) only: the command line checks the paths before TensorFlow is imported.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from keras_minibatch.data.dataset import DataError

# What a folder is searched for (any case). A file named directly is given to Pillow whatever its name.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")
ARRAY_SUFFIXES = (".npy", ".npz")
INPUT_HELP = "an image file (PNG, JPEG, BMP, GIF), a folder of them, or a .npy/.npz file of images"


@dataclasses.dataclass(frozen=True)
class InputFiles:
    """The files to classify, in order, and what the folders held besides images.

    Attributes:
        files: Image and array files: each PATH's own file, or a folder's images sorted by name.
        skipped: `(folder, number of entries that are not images)` for each folder that held some.
    """

    files: tuple[Path, ...]
    skipped: tuple[tuple[Path, int], ...]


def is_array_file(path: Path) -> bool:
    """Whether `path` is read as a NumPy array of images rather than by Pillow."""
    return path.suffix.lower() in ARRAY_SUFFIXES


def check_paths(paths: Sequence[str | os.PathLike]) -> None:
    """Checks, reading nothing, that there is at least one path and each exists.

    Raises:
        DataError: naming the first missing path (and how many others are missing).
    """
    if isinstance(paths, (str, os.PathLike)) or not paths:
        raise DataError(f"predict needs at least one PATH: {INPUT_HELP}")
    missing = [str(path) for path in paths if not os.path.exists(path)]
    if missing:
        others = f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""
        raise DataError(f"PATH {missing[0]!r} does not exist{others}; give {INPUT_HELP}")


def list_inputs(paths: Sequence[str | os.PathLike]) -> InputFiles:
    """Expands `paths` into the files to classify: files as given, folders' images sorted by name.

    Args:
        paths: Image files, folders of images, `.npy`/`.npz` files.

    Returns:
        The `InputFiles`.

    Raises:
        DataError: as `check_paths`, naming a folder that cannot be listed, or
            when the folders hold no images and no file was named.
    """
    check_paths(paths)
    files: list[Path] = []
    skipped: list[tuple[Path, int]] = []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        try:
            entries = sorted(path.iterdir())
        except OSError as error:
            raise DataError(f"PATH {str(path)!r} is a folder that cannot be read ({error.strerror or error})") from error
        images = [entry for entry in entries if entry.suffix.lower() in IMAGE_SUFFIXES and entry.is_file()]
        files.extend(images)
        if len(entries) > len(images):
            skipped.append((path, len(entries) - len(images)))
    if not files:
        folders = ", ".join(repr(str(folder)) for folder, _ in skipped) or repr(str(paths[0]))
        raise DataError(f"PATH {folders} holds no images ({', '.join(IMAGE_SUFFIXES)}); give {INPUT_HELP}")
    return InputFiles(files=tuple(files), skipped=tuple(skipped))
