"""Brings an image to the layout of a model's training images, the way MNIST itself was made.

1. Which way round: training images are light ink on a dark field, ink on paper is the
   opposite; `invert="auto"` inverts an image whose ink is darker than its border.
2. An image of the model's input size that holds no colour keeps its geometry: only the
   inversion applies, so a test image saved as a PNG file is that test image again.
3. Any other image: the paper's level, estimated block by block (light falls unevenly on a
   photographed page), is taken away and the ink stretched to full strength; it is cropped to the bounding box of its ink, scaled so its
   longest side fits the training images' box keeping the aspect ratio (anti-aliased), and
   placed in the field as theirs are (`training_images`).
4. The pixels are rounded to the source's levels and put on the 0..255 scale by the
   loader's own `to_pixels`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from keras_minibatch.checks import ConfigError
from keras_minibatch.data.array_checks import to_pixels
from keras_minibatch.inference.training_images import TrainingImages

INVERT_CHOICES = ("auto", "true", "false")
# Share of full-strength ink below which a pixel is paper when cropping: keeps paper texture,
# shadows and JPEG noise out of the bounding box.
INK_THRESHOLD = 0.2
# Scaling into the box: anti-aliased, as MNIST's digits were.
SCALING_FILTER = Image.Resampling.LANCZOS
# The paper's level is estimated in a grid of at most this many blocks a side, each at least
# this many pixels wide, at this percentile of each block.
PAPER_GRID, PAPER_BLOCK, PAPER_PERCENTILE = 8, 16, 2


def check_invert(invert: str | bool) -> str | bool:
    """Returns `invert` as `"auto"`, `True` or `False`; accepts the strings `"true"` and `"false"`.

    Raises:
        ConfigError: naming the value and what is allowed.
    """
    if isinstance(invert, bool):
        return invert
    if isinstance(invert, str) and invert.lower() in INVERT_CHOICES:
        return {"auto": "auto", "true": True, "false": False}[invert.lower()]
    raise ConfigError("invert", invert, f"must be one of: {', '.join(INVERT_CHOICES)}")


def _border(image: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring, a seventh of the shorter side wide (MNIST's empty margin)."""
    ring = max(1, min(image.shape) // 7)
    inner = np.zeros(image.shape, dtype=bool)
    inner[ring:-ring, ring:-ring] = True
    return image[~inner]


def looks_like_ink_on_paper(levels: np.ndarray) -> bool:
    """Whether an image is dark ink on light paper: its ink stands out darker from its border than anything lighter does.

    The border's median is the paper's (or the field's) level, however the ink
    touches it; the ink is what departs from that level most, at either end
    (the darkest and lightest half percent of the pixels), so neither an
    off-centre digit nor a paper darker at its edges than in its centre is
    mistaken for the other kind.
    """
    background = float(np.median(_border(levels)))
    darkest, lightest = np.percentile(levels, [0.5, 99.5])
    return bool(background - darkest > lightest - background)


def prepare_image(levels: np.ndarray, *, grey: bool, layout: TrainingImages, invert: str | bool, where: str) -> tuple[np.ndarray, bool]:
    """Returns one image as the model's pixels, and whether it was inverted.

    Args:
        levels: Grey levels `(height, width)` on the 0..255 scale, 0 black.
        grey: Whether the image held no colour (`image_reading.GreyImage.grey`).
        layout: The model's `TrainingImages`.
        invert: `"auto"`, `True` or `False` (see `check_invert`).
        where: The image's name, for errors.

    Returns:
        `(uint8 pixels (layout.height, layout.width), inverted)`.
    """
    inverted = looks_like_ink_on_paper(levels) if invert == "auto" else bool(invert)
    ink = 255.0 - levels if inverted else levels
    if grey and ink.shape == (layout.height, layout.width):
        return to_pixels(ink[None], where, 255.0)[0], inverted
    field = _fit_to_layout(ink.astype(np.float32) / np.float32(255.0), layout)
    return to_pixels(np.rint(field * layout.pixel_scale)[None], where, layout.pixel_scale)[0], inverted


def _without_paper(ink: np.ndarray) -> np.ndarray:
    """Takes the paper's level away, where it is: light falls unevenly on a photographed page.

    The level is a low percentile of each of a grid of blocks (so a stroke
    crossing a block leaves it alone), interpolated smoothly over the image.
    """
    height, width = ink.shape
    rows, columns = (min(PAPER_GRID, max(1, side // PAPER_BLOCK)) for side in (height, width))
    row_edges = np.linspace(0, height, rows + 1).astype(int)
    column_edges = np.linspace(0, width, columns + 1).astype(int)
    grid = np.array([[np.percentile(ink[top:bottom, left:right], PAPER_PERCENTILE)
                      for left, right in zip(column_edges, column_edges[1:])] for top, bottom in zip(row_edges, row_edges[1:])], dtype=np.float32)
    paper = np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.clip(ink - paper, 0.0, None)


def _fit_to_layout(ink: np.ndarray, layout: TrainingImages) -> np.ndarray:
    """Crops `ink` (0..1, 1 full ink) to its ink, scales it into the layout's box and places it: 0..1."""
    field = np.zeros((layout.height, layout.width), dtype=np.float32)
    ink = _without_paper(ink)
    if ink.max() <= 0:
        return field  # Blank paper: nothing to place.
    ink /= ink.max()
    rows, columns = np.nonzero(ink >= INK_THRESHOLD)
    crop = ink[rows.min(): rows.max() + 1, columns.min(): columns.max() + 1]
    scale = layout.box / max(crop.shape)
    height, width = (max(1, min(layout.box, round(side * scale))) for side in crop.shape)
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32)).resize((width, height), SCALING_FILTER), dtype=np.float32)
    resized = np.clip(resized, 0.0, None)
    resized /= max(float(resized.max()), 1e-12)
    resized = np.minimum(resized, 1.0)
    if layout.centre is None:
        top, left = round((layout.height - height) / 2), round((layout.width - width) / 2)
    else:
        mass = resized.sum()
        row_centre = (resized.sum(axis=1) * np.arange(height)).sum() / mass
        column_centre = (resized.sum(axis=0) * np.arange(width)).sum() / mass
        top = min(max(round(layout.centre[0] - row_centre), 0), layout.height - height)
        left = min(max(round(layout.centre[1] - column_centre), 0), layout.width - width)
    field[top: top + height, left: left + width] = resized
    return field
