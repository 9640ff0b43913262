"""Reading what `predict` classifies: one image file with Pillow as grey levels, or a NumPy file of images.

An image becomes one channel of grey levels on the 0..255 scale: colour by
luminance (ITU-R 601-2, as Pillow converts), a palette through its colours, a
transparent image composited on white paper first, 16-bit grey scaled down,
the first frame of an animation, and a photo turned upright by its EXIF
orientation. Arrays are checked and put on the 0..255 scale by the loader's own
`to_pixels`.
"""

from __future__ import annotations

import dataclasses
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from keras_minibatch.data.array_checks import to_pixels
from keras_minibatch.data.dataset import DataError

# Modes of one grey channel, and the top of their scale.
_GREY_SCALES = {"1": 1.0, "L": 255.0, "I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0}


@dataclasses.dataclass(frozen=True, eq=False)
class GreyImage:
    """One image as grey levels.

    Attributes:
        levels: float32 array (height, width) on the 0..255 scale, 0 black.
        grey: Whether the image held no colour (a grey mode, or equal red,
            green and blue after compositing): only a grey image of the
            model's input size keeps its geometry.
    """

    levels: np.ndarray
    grey: bool


def read_image(path: Path) -> GreyImage:
    """Reads one image file (the first frame of an animation) as grey levels.

    Raises:
        DataError: naming the file when Pillow cannot read it, or it is larger
            than Pillow's limit against decompression bombs.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # Refused, not read half-way.
            with Image.open(path) as image:
                image.seek(0)
                image.load()
                image = ImageOps.exif_transpose(image)
                return _grey_image(image)
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        reason = "not an image Pillow can read" if isinstance(error, UnidentifiedImageError) else f"{type(error).__name__}: {error}"
        raise DataError(f"cannot read image {str(path)!r}: {reason}") from error


def _grey_image(image: Image.Image) -> GreyImage:
    if image.mode in _GREY_SCALES:
        levels = np.asarray(image, dtype=np.float32) * np.float32(255.0 / _GREY_SCALES[image.mode])
        return GreyImage(levels=levels, grey=True)
    if image.mode == "I":  # 32-bit integers: Pillow reads some 16-bit files so.
        levels = np.asarray(image, dtype=np.float64)
        top = 255.0 if levels.size and 0 <= levels.min() and levels.max() <= 255 else 65535.0
        return GreyImage(levels=(np.clip(levels, 0, top) * (255.0 / top)).astype(np.float32), grey=True)
    if image.mode == "F":
        return GreyImage(levels=to_pixels(np.asarray(image)[None], "a floating-point image", None)[0].astype(np.float32), grey=True)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image.convert("RGBA"))
    rgb = image.convert("RGB")
    channels = np.asarray(rgb)
    grey = bool((channels[..., 0] == channels[..., 1]).all() and (channels[..., 1] == channels[..., 2]).all())
    return GreyImage(levels=np.asarray(rgb.convert("L"), dtype=np.float32), grey=grey)


def read_arrays(path: Path) -> np.ndarray:
    """Reads a `.npy` array or a `.npz` file (key `x`, or its only array) of images as uint8 pixels.

    Returns:
        uint8 images `(n, height, width)`; one image `(height, width)` becomes `n = 1`.

    Raises:
        DataError: naming the file when it cannot be read, holds no single image
            array, or its values are not pixels (`array_checks.to_pixels`).
    """
    try:
        with open(path, "rb") as stream:
            loaded = np.load(stream, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded as archive:
                    keys = archive.files
                    if "x" not in keys and len(keys) != 1:
                        raise DataError(f"{str(path)!r} holds arrays {sorted(keys)}; predict reads the array named x, or a file's only array")
                    key = "x" if "x" in keys else keys[0]
                    array, where = archive[key], f"`{key}` in {str(path)!r}"
            else:
                array, where = loaded, repr(str(path))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"cannot read {str(path)!r} as a NumPy .npy or .npz file ({type(error).__name__}: {error})") from error
    array = np.asarray(array)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 1):
        array = array[None]  # One image, (height, width) or (height, width, 1).
    return to_pixels(array, where, None)
