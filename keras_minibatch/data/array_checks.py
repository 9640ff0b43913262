"""Checks image and label arrays as a source holds them, and turns images into uint8 pixels.

Pixel values, decided per array:
- integer arrays are on the 0..255 scale and are kept (uint8 ones without a
  copy); the digits source is the exception: its 0..16 values are mapped onto
  0..255 (`round(v * 255 / 16)`, 17 distinct levels as before);
- float arrays in [0, 1] are multiplied by 255, float arrays in [0, 255] with
  values above 1 are kept, both rounded to the nearest whole level (8-bit
  images: a float finer than 1/255 of the range is rounded);
- anything else (negative values, values above 255, NaN or inf) is a `DataError`.

A trailing channel axis of size 1 on images, `(n, H, W, 1)`, and on labels,
`(n, 1)`, is squeezed away; any other shape is a `DataError`.
"""

from __future__ import annotations

import numpy as np

from keras_minibatch.data.dataset import DataError


def decided_scale(x: np.ndarray, where: str) -> float:
    """The top of the pixel scale an array is read on: 1 for floats in [0, 1], else 255.

    Args:
        x: One split's images.
        where: The array's name for messages, e.g. "`x_train` in data.npz".

    Raises:
        DataError: when a NaN or infinite value would decide the scale.
    """
    if x.dtype.kind != "f" or not x.size:
        return 255.0
    high = x.max()  # NaN when any value is NaN
    if not np.isfinite(high):
        _refuse_non_finite(x, where)
    return 1.0 if high <= 1 else 255.0


def _refuse_non_finite(x: np.ndarray, where: str) -> None:
    num_bad = int(np.count_nonzero(~np.isfinite(x)))
    if num_bad:
        raise DataError(f"{where} has {num_bad} NaN/inf pixel values; all must be finite")


def to_pixels(x: np.ndarray, where: str, scale: float | None) -> np.ndarray:
    """Checks one image array and returns it as uint8 pixels 0..255 (see the module docstring)."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        raise DataError(
            f"{where} has shape {x.shape}; expected images (num_samples, height, width), "
            "optionally with a trailing channel axis of size 1"
        )
    if len(x) == 0:
        raise DataError(f"{where} is empty (0 samples); expected at least one image")
    if x.size == 0:
        raise DataError(f"{where} has images of shape {x.shape[1:]}, which hold no pixels; expected height and width >= 1")
    if x.dtype.kind not in "iuf":
        raise DataError(f"{where} has pixel dtype {x.dtype}; expected integers or floats")
    if x.dtype.kind == "f":
        _refuse_non_finite(x, where)
    low, high = x.min(), x.max()
    if scale is None:
        scale = decided_scale(x, where)
    if low < 0 or high > scale:
        allowed = (
            "integers in 0..255, floats in [0, 1] or floats in [0, 255]"
            if scale == 255.0 else f"values in 0..{scale:g}"
        )
        raise DataError(f"{where} has pixel values from {low} to {high}; expected {allowed}")
    if x.dtype.kind in "iu" and scale == 255.0:
        return x.astype(np.uint8, copy=False)  # Already whole levels in 0..255.
    return np.rint(x * (255.0 / scale)).astype(np.uint8)


def check_classes(y_train: np.ndarray, num_classes: int, where: str) -> None:
    """Refuses training labels that are not the class ids 0..K-1, each present at least once."""
    present = np.unique(y_train)
    if len(present) < 2:
        raise DataError(f"{where} holds only class {', '.join(map(str, present)) or 'none'}; a classifier needs at least two classes")
    if len(present) == num_classes:
        return
    missing, expected = [], 0
    for value in present.tolist():  # sorted: collect the first few gaps without listing them all
        while expected < value and len(missing) < 5:
            missing.append(expected)
            expected += 1
        expected = value + 1
    missing += list(range(expected, min(num_classes, expected + 5 - len(missing))))
    raise DataError(
        f"{where} has labels up to {num_classes - 1} but {num_classes - len(present):,} class ids between are missing "
        f"(first: {', '.join(map(str, missing[:5]))}); class ids must be 0..K-1, each present in the training labels"
    )


def check_labels(y: np.ndarray, where: str) -> np.ndarray:
    """Returns one label array as int64 class ids, one per sample; `where` names it in errors."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            f"{where} has shape {y.shape}; expected one class id per sample, "
            "(num_samples,) (for one-hot labels pass y.argmax(axis=1))"
        )
    if y.dtype.kind not in "iu":
        raise DataError(
            f"{where}: labels must be integers, got {y.dtype}; float labels are not "
            "truncated, convert whole-number labels with y.astype('int64')"
        )
    if y.size and y.min() < 0:
        raise DataError(
            f"{where} has {int(np.count_nonzero(y < 0))} negative labels (smallest "
            f"{y.min()}); labels must be class ids 0..num_classes-1"
        )
    return y.astype(np.int64)
