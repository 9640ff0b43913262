"""A trained model of images, loaded for `predict` and `export`: its input checked and its training images' layout known.

Loading is `evaluate`'s (`training.evaluation.load_model_file`); this module adds the
checks that the model takes one image and gives class scores, and reads which source
its run trained on, from the `config.json` beside it, to know how its images were made.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from keras_minibatch.data.dataset import DataError
from keras_minibatch.inference.training_images import TrainingImages, training_images_for
from keras_minibatch.training.evaluation import load_model_file, pixels_for, read_run_config

_WHAT_IS_NEEDED = "predict and export need a model of one image input, (height, width) or (height, width, 1), and one output of class scores, as train makes"


@dataclasses.dataclass(frozen=True, eq=False)
class ImageModel:
    """A Keras model of images and what its training images looked like.

    Attributes:
        model: The `keras.Model`.
        name: The model file, or a description of an in-memory model, for messages.
        image_shape: `(height, width)` of one input image.
        channel_axis: Whether the input has a trailing channel axis of size 1.
        num_classes: Number of classes scored.
        layout: The layout of its training images (`training_images`).
    """

    model: Any
    name: str
    image_shape: tuple[int, int]
    channel_axis: bool
    num_classes: int
    layout: TrainingImages

    @property
    def takes_uint8(self) -> bool:
        """Whether the model takes raw uint8 pixels (0..255); older models take float32 in [0, 1]."""
        return str(self.model.inputs[0].dtype) == "uint8"

    def describe_input(self, dtype: str | None = None) -> str:
        """The input as it must be fed: dtype (the model's unless given), shape and scale."""
        shape = ", ".join(["batch", *map(str, self.image_shape), *(["1"] if self.channel_axis else [])])
        scale = "raw pixels 0..255" if self.takes_uint8 else "pixels scaled to [0, 1] (pixel / 255)"
        return f"{dtype or self.model.inputs[0].dtype} ({shape}), {scale}, light ink on a dark field"

    def model_input(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 images `(n, height, width)` as the model takes them."""
        x = pixels_for(self.model, pixels)
        return x[..., None] if self.channel_axis else x


def load_image_model(model: Any) -> ImageModel:
    """Loads a `.keras` file or a run folder's model (or takes a `keras.Model`) and checks it classifies images.

    Args:
        model: A `.keras` file, a run folder holding `model.keras`, or a `keras.Model`.

    Returns:
        The `ImageModel`.

    Raises:
        DataError: naming the model when it cannot be loaded, or its input is
            not one image or its output not one vector of class scores.
    """
    dataset = None
    if isinstance(model, (str, os.PathLike)):
        path, loaded = load_model_file(model, compile=False)
        name, who = str(path), f"--model {str(path)!r}"
        try:
            saved = read_run_config(path) or {}
        except DataError:
            saved = {}  # A damaged config.json costs only the knowledge of the source.
        dataset = saved.get("dataset") if isinstance(saved.get("dataset"), str) else None
    else:
        loaded, name = model, f"keras model {getattr(model, 'name', type(model).__name__)!r}"
        who = f"the {name}"
    inputs, outputs = getattr(loaded, "inputs", None), getattr(loaded, "outputs", None)
    if not inputs or len(inputs) != 1:
        raise DataError(f"{who} takes {len(inputs or [])} inputs; {_WHAT_IS_NEEDED}")
    full_shape = tuple(inputs[0].shape)
    shape = full_shape[1:]
    channel_axis = len(shape) == 3 and shape[-1] == 1
    image_shape = shape[:2] if channel_axis else shape
    if len(image_shape) != 2 or not all(isinstance(side, int) and side >= 1 for side in image_shape) or str(inputs[0].dtype) not in ("uint8", "float32"):
        raise DataError(f"{who} takes input of shape {full_shape} and dtype {inputs[0].dtype}, not images; {_WHAT_IS_NEEDED}")
    output_shape = tuple(outputs[0].shape) if outputs and len(outputs) == 1 else None
    if output_shape is None or len(output_shape) != 2 or not isinstance(output_shape[1], int) or output_shape[1] < 2:
        raise DataError(f"{who} gives output of shape {output_shape or [tuple(o.shape) for o in outputs or []]}, not class scores; {_WHAT_IS_NEEDED}")
    return ImageModel(
        model=loaded, name=name, image_shape=(int(image_shape[0]), int(image_shape[1])), channel_axis=channel_axis,
        num_classes=int(output_shape[1]), layout=training_images_for((int(image_shape[0]), int(image_shape[1])), dataset),
    )
