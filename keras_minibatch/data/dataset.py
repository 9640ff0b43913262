"""The `Dataset` type: train and test splits of one image classification source, checked.

A `Dataset` holds 8-bit images (uint8 pixels, 0..255), shaped
`(num_samples, height, width)`, with int64 labels `0..num_classes - 1`; it
checks this promise on construction, so one built by hand is held to what the
loaders (`data.loading.load_dataset`) guarantee. Pixels stay uint8 until they
reach the model, whose first layer scales them to [0, 1]
(`model.build_mlp`): a quarter of the memory of float32 pixels, which matters
because Keras copies the training arrays more than once during `fit`.

Standard library and NumPy only: the CLI imports `DataError` before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses

import numpy as np


class DataError(ValueError):
    """A data source is missing or malformed; the message names the fix."""


@dataclasses.dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value
class Dataset:
    """Train and test splits of one image classification source.

    Attributes:
        x_train: uint8 images (pixels 0..255), shaped `(num_samples, height, width)`.
        y_train: int64 labels in `0..num_classes - 1`.
        x_test: Test images, shaped like `x_train` apart from the first axis.
        y_test: Test labels.
        source: Human-readable description, e.g. the file path.
        num_classes: Number of classes.
        test_split_carved: Whether the test split was carved out of the
            source's only split (seeded and stratified) rather than given.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    num_classes: int
    test_split_carved: bool

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise DataError(
                    f"`x_{split}` has {len(x)} samples but `y_{split}` has {len(y)}; "
                    "they must match"
                )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"`x_train` images are {self.x_train.shape[1:]} but `x_test` images "
                f"are {self.x_test.shape[1:]}; they must match"
            )
        # A Dataset built by hand gets the loaders' promise checked: scaled twice or wrapped to
        # uint8 silently, float or out-of-range pixels would train a model on noise.
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != np.uint8:
                raise DataError(
                    f"`x_{split}` has pixel dtype {x.dtype}; a Dataset holds uint8 pixels 0..255: build it with "
                    "load_dataset, or convert (floats in [0, 1]: np.rint(x * 255).astype(np.uint8))"
                )
            if y.dtype.kind not in "iu":
                raise DataError(f"`y_{split}` has dtype {y.dtype}; labels must be integer class ids")
            if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                raise DataError(
                    f"`y_{split}` has labels from {y.min()} to {y.max()}, but `num_classes` is {self.num_classes}: "
                    f"labels must be 0..{self.num_classes - 1}"
                )
        if not isinstance(self.num_classes, int) or isinstance(self.num_classes, bool) or self.num_classes < 2:
            raise DataError(f"`num_classes` ({self.num_classes!r}) must be an integer >= 2: a classifier needs two classes or more")
        if len(self.y_test) == 0:
            raise DataError("`x_test` is empty: a run scores its model on the test split once, so it needs test rows")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image, `x_train.shape[1:]`."""
        return tuple(self.x_train.shape[1:])

    def class_counts(self, split: str) -> dict[int, int]:
        """Samples per class, every class listed (zero included).

        Args:
            split: `"train"` or `"test"`.

        Returns:
            Dict from class id to number of samples.
        """
        if split not in ("train", "test"):
            raise ValueError(f"`split` must be 'train' or 'test', got {split!r}")
        y = self.y_train if split == "train" else self.y_test
        counts = np.bincount(y, minlength=self.num_classes)
        return {label: int(count) for label, count in enumerate(counts)}
