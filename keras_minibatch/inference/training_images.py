"""What a model's training images look like: the box their ink fills, where it sits, the pixel levels.

How the sources were made (and measured on their images):
- MNIST: each digit scaled to fit a 20x20 box keeping its aspect ratio, anti-aliased,
  and placed in the 28x28 field with its centre of mass on pixel (14, 14).
- Fashion-MNIST: each item scaled so its longest side fills the 28x28 field, centred.
- scikit-learn's digits: 8x8, the digit filling the field's height, centre of mass in
  the middle, 17 levels of ink (0..16, the loader maps them onto 0..255).
A model of another source is taken as MNIST at its own size: the box and centre in
MNIST's proportion.
"""

from __future__ import annotations

import dataclasses

from keras_minibatch.data.sources import DIGITS_PIXEL_SCALE

_MNIST_SIDE, _MNIST_BOX, _MNIST_CENTRE = 28, 20, 14.0


@dataclasses.dataclass(frozen=True)
class TrainingImages:
    """The layout of a model's training images, which `preprocessing` gives any other image.

    Attributes:
        height: Rows of the model's input.
        width: Columns of the model's input.
        box: Longest side, in pixels, of the ink after scaling.
        centre: `(row, column)` the ink's centre of mass is moved to, in pixel
            indices; `None` centres the ink's bounding box instead.
        pixel_scale: The source's pixel levels (255; 16 for digits): the ink is
            rounded to these levels and mapped onto 0..255 as the loader does.
        source: Which source's layout this is, for messages.
    """

    height: int
    width: int
    box: int
    centre: tuple[float, float] | None
    pixel_scale: float
    source: str


def training_images_for(image_shape: tuple[int, int], dataset: str | None) -> TrainingImages:
    """The layout of the training images of a model with input `image_shape`, trained on `dataset`.

    Args:
        image_shape: `(height, width)` of the model's input.
        dataset: The `dataset` its run's `config.json` names, or `None` when unknown.

    Returns:
        The `TrainingImages`.
    """
    height, width = image_shape
    if dataset == "digits" or (dataset not in ("mnist", "fashion_mnist") and image_shape == (8, 8)):
        return TrainingImages(height, width, box=min(height, width), centre=((height - 1) / 2, (width - 1) / 2), pixel_scale=DIGITS_PIXEL_SCALE, source="digits")
    if dataset == "fashion_mnist":
        return TrainingImages(height, width, box=min(height, width), centre=None, pixel_scale=255.0, source="fashion_mnist")
    side = min(height, width)
    return TrainingImages(
        height, width, box=max(1, round(side * _MNIST_BOX / _MNIST_SIDE)),
        centre=(height * _MNIST_CENTRE / _MNIST_SIDE, width * _MNIST_CENTRE / _MNIST_SIDE), pixel_scale=255.0, source="mnist",
    )
