"""`predict`: classifies image files or arrays with a trained model, each brought to the layout of its training images."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_minibatch.data.array_checks import to_pixels
from keras_minibatch.data.dataset import DataError
from keras_minibatch.inference.image_model import load_image_model
from keras_minibatch.inference.image_reading import read_arrays, read_image
from keras_minibatch.inference.input_files import is_array_file, list_inputs
from keras_minibatch.inference.preprocessing import check_invert, prepare_image


@dataclasses.dataclass(frozen=True, eq=False)
class ImagePrediction:
    """The class scores of one image.

    Attributes:
        path: The image file, or `FILE[i]` for image `i` of an array file (`array[i]` for an array given in memory).
        probabilities: float32 class probabilities, one per class.
        inverted: Whether the image was inverted (dark ink on light paper) before it was classified.
    """

    path: str
    probabilities: np.ndarray
    inverted: bool

    @property
    def predicted_class(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def probability(self) -> float:
        return float(self.probabilities[self.predicted_class])

    def runners_up(self, count: int = 2) -> list[tuple[int, float]]:
        """The `count` next most probable classes after the predicted one, as `(class, probability)`."""
        order = np.argsort(-self.probabilities, kind="stable")[1: count + 1]
        return [(int(index), float(self.probabilities[index])) for index in order]


@dataclasses.dataclass(frozen=True, eq=False)
class Predictions:
    """What `predict` returns: a prediction per image read, and what could not be read.

    Attributes:
        model: The model file (or in-memory model) that classified them.
        num_classes: Number of classes the model scores.
        rows: One `ImagePrediction` per image, in the order of the inputs (folders sorted by name).
        failures: `(path, reason)` for each file that could not be read; the others are classified.
        skipped: `(folder, count)` of the entries of each folder that are not images.
        notes: Anything done that the caller should say (outputs that were not probabilities).
    """

    model: str
    num_classes: int
    rows: tuple[ImagePrediction, ...]
    failures: tuple[tuple[str, str], ...] = ()
    skipped: tuple[tuple[str, int], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def classes(self) -> np.ndarray:
        """The predicted class of each image, int64 `(n,)`."""
        return np.asarray([row.predicted_class for row in self.rows], dtype=np.int64)

    @property
    def probabilities(self) -> np.ndarray:
        """Every image's class probabilities, float32 `(n, num_classes)`."""
        return np.stack([row.probabilities for row in self.rows]) if self.rows else np.zeros((0, self.num_classes), np.float32)


def predict(
    model: Any,
    inputs: str | os.PathLike | Sequence[str | os.PathLike] | np.ndarray,
    *,
    invert: str | bool = "auto",
    batch_size: int = 256,
) -> Predictions:
    """Classifies images with a trained model, each brought to the layout of its training images.

    An image of the model's input size without colour keeps its geometry, so a
    test image saved as a PNG file gets the prediction `evaluate` gives it; any
    other image is made the way MNIST was (`inference.preprocessing`).

    Args:
        model: A run folder, a `.keras` file, or a `keras.Model`.
        inputs: Image files (PNG, JPEG, BMP, GIF: the first frame), folders of
            them (sorted by name; other files are skipped and counted), `.npy`
            or `.npz` files of images (key `x`, or the only array), or an array
            of images `(n, height, width)`.
        invert: `"auto"` inverts each image whose border is lighter than its
            centre (dark ink on light paper); `True` or `False` forces it.
            Defaults to `"auto"`.
        batch_size: Images per call into the model. Defaults to `256`.

    Returns:
        The `Predictions`; files that could not be read are in its `failures`.

    Raises:
        ConfigError: for a bad `invert`.
        DataError: when the model cannot be loaded or does not classify images,
            a path does not exist, or a folder holds no images.
    """
    invert = check_invert(invert)
    image_model = load_image_model(model)
    pixels: list[np.ndarray] = []
    rows: list[tuple[str, bool]] = []
    failures: list[tuple[str, str]] = []

    def add(name: str, levels: np.ndarray, grey: bool) -> None:
        image, inverted = prepare_image(levels, grey=grey, layout=image_model.layout, invert=invert, where=name)
        pixels.append(image)
        rows.append((name, inverted))

    skipped: tuple[tuple[Path, int], ...] = ()
    if isinstance(inputs, np.ndarray):
        for index, image in enumerate(to_pixels(inputs[None] if inputs.ndim == 2 else inputs, "the array of images", None)):
            add(f"array[{index}]", image.astype(np.float32), True)
    else:
        listing = list_inputs([inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs))
        skipped = listing.skipped
        for path in listing.files:
            try:
                if is_array_file(path):
                    for index, image in enumerate(read_arrays(path)):
                        add(f"{path}[{index}]", image.astype(np.float32), True)
                else:
                    image = read_image(path)
                    add(str(path), image.levels, image.grey)
            except DataError as error:
                failures.append((str(path), str(error)))
    notes: list[str] = []
    scores = np.zeros((0, image_model.num_classes), np.float32)
    if pixels:
        scores = np.asarray(image_model.model.predict(image_model.model_input(np.stack(pixels)), batch_size=batch_size, verbose=0), dtype=np.float32)
        if not (np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3)):
            shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores = shifted / shifted.sum(axis=1, keepdims=True)
            notes.append("the model's outputs are not probabilities (they do not sum to 1); softmax applied to them")
    return Predictions(
        model=image_model.name, num_classes=image_model.num_classes,
        rows=tuple(ImagePrediction(path=name, probabilities=score, inverted=inverted) for (name, inverted), score in zip(rows, scores)),
        failures=tuple(failures), skipped=tuple((str(folder), count) for folder, count in skipped), notes=tuple(notes),
    )
