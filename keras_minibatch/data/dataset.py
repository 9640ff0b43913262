"""Loads image classification data: named sources, `.npz` files and IDX folders.

Every source becomes a `Dataset` of 8-bit images (uint8 pixels, 0..255), shaped
`(num_samples, height, width)`, with int64 labels `0..num_classes - 1`. Pixels
stay uint8 until they reach the model, whose first layer scales them to [0, 1]
(`model.build_mlp`): a 60,000-image MNIST training set is then 47 MB instead of
188 MB as float32, and Keras copies it more than once during `fit`.

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

This module never imports TensorFlow or Keras at import time: the CLI calls
`check_source` before TensorFlow loads, and only a MNIST download imports Keras.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from keras_minibatch.config import TrainConfig

from keras_minibatch.data.sources import (
    SOURCE_NAMES,
    DataError,
    load_digits,
    load_idx_folder,
    load_npz,
    mnist_path,
    source_kind,
)

__all__ = [
    "SOURCE_NAMES", "DataError", "Dataset", "check_source", "data_fingerprint", "load_dataset",
    "stratified_validation_order", "test_split_fingerprint",
]


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


def check_source(source: str) -> None:
    """Checks cheaply, without reading data or importing Keras, that `source` exists.

    Args:
        source: A name in `SOURCE_NAMES`, a `.npz` file, or a folder of IDX files.

    Raises:
        DataError: If `source` is none of these, or the folder holds no
            usable IDX pairs.
    """
    source_kind(source)


def load_dataset(
    source: str,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    cache_dir: str | None = None,
    max_train_samples: int | None = None,
) -> Dataset:
    """Loads, checks and scales one image classification source.

    Args:
        source: `"mnist"` (Keras' MNIST, from the cache or downloaded),
            `"digits"` (scikit-learn's bundled 8x8 digits), a `.npz` file
            with `x_train, y_train, x_test, y_test` (or only `x_train, y_train`
            or `x, y`), or a folder of IDX files (`*-idx3-ubyte`/`*-idx1-ubyte`,
            optionally `.gz`). A name wins over a same-named folder.
        test_fraction: Share of samples held out for testing when the source
            has no test split of its own. Defaults to `0.2`.
        seed: Seed of the stratified test split and training subsample.
            Defaults to `0`.
        cache_dir: Keras cache folder holding `datasets/mnist.npz`; `None`
            means Keras' default (`$KERAS_HOME`, else `~/.keras`). Defaults to
            `None`.
        max_train_samples: If set, keep a stratified, seeded subsample of this
            many training rows (the test split is untouched). Defaults to
            `None` (all rows).

    Returns:
        A `Dataset`.

    Raises:
        DataError: On a bad argument, missing or malformed data, or an
            uncached MNIST while offline.
    """
    _check_fraction("test_fraction", test_fraction)
    _check_seed(seed)
    if max_train_samples is not None and (
        not _is_int(max_train_samples) or max_train_samples < 1
    ):
        raise DataError(
            f"`max_train_samples` ({max_train_samples!r}) must be None or a positive integer"
        )
    kind, path = source_kind(source)
    if kind == "digits":
        raw = load_digits()
    elif kind == "mnist":
        raw = load_npz(mnist_path(cache_dir))
        raw.source, raw.num_classes = f"mnist (Keras, {raw.source})", 10
    elif kind == "npz":
        raw = load_npz(path)
    else:
        raw = load_idx_folder(path)

    splits = ("train", "test") if "x_test" in raw.arrays else ("train",)
    if len(splits) == 2 and raw.pixel_scale is None:
        scales = {split: _decided_scale(np.asarray(raw.arrays[f"x_{split}"])) for split in splits}
        if scales["train"] != scales["test"]:
            names = {1.0: "floats in [0, 1]", 255.0: "pixels on the 0..255 scale"}
            raise DataError(
                f"{raw.where['x_train']} holds {names[scales['train']]} but {raw.where['x_test']} holds "
                f"{names[scales['test']]}; put both splits on one scale"
            )
    x, y = {}, {}
    for split in splits:
        x_key, y_key = f"x_{split}", f"y_{split}"
        x[split] = _to_pixels(raw.arrays[x_key], raw.where[x_key], raw.pixel_scale)
        y[split] = _check_labels(raw.arrays[y_key], raw.where[y_key])
        if len(x[split]) != len(y[split]):
            raise DataError(
                f"{raw.where[x_key]} has {len(x[split])} images but {raw.where[y_key]} "
                f"has {len(y[split])} labels; they must match"
            )
    num_classes = raw.num_classes or int(y["train"].max()) + 1
    _check_classes(y["train"], num_classes, raw.where["y_train"])
    for split in splits:
        if y[split].max() >= num_classes:
            allowed = (
                f"{raw.source} has {num_classes} classes"
                if raw.num_classes
                else "every test class must appear in the training labels"
            )
            raise DataError(
                f"{raw.where[f'y_{split}']} has label {y[split].max()}, but labels must be "
                f"0..{num_classes - 1}; {allowed}"
            )

    if len(splits) == 1:
        x_train, x_test, y_train, y_test = _carve_test_split(
            x["train"], y["train"], test_fraction=test_fraction, seed=seed,
            where=raw.where["y_train"],
        )
    else:
        x_train, x_test, y_train, y_test = x["train"], x["test"], y["train"], y["test"]

    if max_train_samples is not None and max_train_samples < len(y_train):
        num_present = len(np.unique(y_train))
        if max_train_samples < num_present:
            raise DataError(
                f"`max_train_samples` ({max_train_samples}) is smaller than the "
                f"{num_present} classes in the training split; use at least {num_present}"
            )
        keep, _ = _stratified_pick(
            y_train, max_train_samples, np.random.default_rng(seed), keep_one_back=False
        )
        x_train, y_train = x_train[keep], y_train[keep]

    return Dataset(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        source=raw.source, num_classes=num_classes, test_split_carved=len(splits) == 1,
    )


def load_dataset_for(config: "TrainConfig") -> Dataset:
    """Loads `config.dataset` with the config's test fraction, seed and row cap."""
    return load_dataset(config.dataset, test_fraction=config.test_fraction, seed=config.seed, max_train_samples=config.max_train_samples)


def _sha256(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def data_fingerprint(dataset: Dataset) -> dict[str, Any]:
    """What identifies a dataset's content: source, sizes, shape and a hash of every array.

    A run records it in `config.json` (a resumed run refuses other data) and a
    search in `search_config.json` (its trials stay comparable).
    """
    return {
        "source": dataset.source, "train_samples": len(dataset.y_train), "test_samples": len(dataset.y_test),
        "input_shape": list(dataset.input_shape), "num_classes": dataset.num_classes,
        "sha256": _sha256(dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test),
    }


def test_split_fingerprint(dataset: Dataset) -> str:
    """A hash of the test split alone: what `evaluate` checks a run's data against."""
    return _sha256(dataset.x_test, dataset.y_test)


def num_fit_rows(num_samples: int, validation_split: float) -> int:
    """Returns how many of `num_samples` rows `fit(validation_split=...)` trains on.

    Mirrors keras/src/trainers/data_adapters/array_slicing.py:train_validation_split:
    the first `floor(n * (1 - validation_split))` rows train, the rest validate.
    """
    return int(math.floor(num_samples * (1.0 - validation_split)))


def stratified_validation_order(
    y: np.ndarray, *, validation_split: float, seed: int
) -> np.ndarray:
    """Orders rows so that `fit(validation_split=...)` holds out a stratified sample.

    Keras' `fit` keeps the first `floor(n * (1 - validation_split))` rows for
    training and validates on the rest, before any shuffling. This returns a
    seeded permutation of `range(len(y))` whose last rows are a stratified
    sample holding every class; both parts are shuffled. Apply it as
    `x[order], y[order]`.

    Args:
        y: Integer class labels, shape `(num_samples,)`.
        validation_split: Share of rows Keras will hold out, in (0, 1).
        seed: Seed of the sample and of both shuffles.

    Returns:
        int64 array, a permutation of `range(len(y))`.

    Raises:
        DataError: On a bad argument, or if a class has fewer than 2 samples or
            either part would be smaller than the number of classes.
    """
    _check_fraction("validation_split", validation_split)
    _check_seed(seed)
    y = _check_labels(y, "`y`")
    num_samples = len(y)
    split_at = num_fit_rows(num_samples, validation_split)
    num_val = num_samples - split_at
    classes, counts = np.unique(y, return_counts=True)
    if not num_samples:
        raise DataError("`y` is empty (0 samples); expected one label per training row")
    if counts.min() < 2:
        raise DataError(
            f"`y`: class {classes[counts.argmin()]} has only 1 sample; with "
            "`validation_split` every class needs at least 2 (one to train on, one to "
            "validate on) or the validation split misses it: add samples or drop the class"
        )
    if min(num_val, split_at) < len(classes):
        raise DataError(
            f"`validation_split` ({validation_split}) splits {num_samples} samples into "
            f"{split_at} to train on and {num_val} to validate on, but each part needs all "
            f"{len(classes)} classes; use more data or a validation_split nearer 0.5"
        )
    picked, rest = _stratified_pick(
        y, num_val, np.random.default_rng(seed), keep_one_back=True
    )
    return np.concatenate([rest, picked]).astype(np.int64)


def _decided_scale(x: np.ndarray) -> float:
    """The top of the pixel scale an array is read on: 1 for floats in [0, 1], else 255."""
    return 1.0 if x.dtype.kind == "f" and x.size and x.max() <= 1 else 255.0


def _to_pixels(x: np.ndarray, where: str, scale: float | None) -> np.ndarray:
    """Checks one image array and returns it as uint8 pixels 0..255 (module docstring)."""
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
        num_bad = int(np.count_nonzero(~np.isfinite(x)))
        if num_bad:
            raise DataError(f"{where} has {num_bad} NaN/inf pixel values; all must be finite")
    low, high = x.min(), x.max()
    if scale is None:
        scale = _decided_scale(x)
    if low < 0 or high > scale:
        allowed = (
            "integers in 0..255, floats in [0, 1] or floats in [0, 255]"
            if scale == 255.0 else f"values in 0..{scale:g}"
        )
        raise DataError(f"{where} has pixel values from {low} to {high}; expected {allowed}")
    if x.dtype.kind in "iu" and scale == 255.0:
        return x.astype(np.uint8, copy=False)  # Already whole levels in 0..255.
    return np.rint(x * (255.0 / scale)).astype(np.uint8)


def _check_classes(y_train: np.ndarray, num_classes: int, where: str) -> None:
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


def _check_labels(y: np.ndarray, where: str) -> np.ndarray:
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


def _carve_test_split(
    x: np.ndarray, y: np.ndarray, *, test_fraction: float, seed: int, where: str
) -> list[np.ndarray]:
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise DataError(
            f"{where}: class {classes[counts.argmin()]} has only 1 sample; carving a "
            "stratified test split needs at least 2 per class: add samples or drop the class"
        )
    num_test = math.ceil(test_fraction * len(y))  # sklearn's rounding for a float size
    if min(num_test, len(y) - num_test) < len(classes):
        raise DataError(
            f"`test_fraction` ({test_fraction}) splits {len(y)} samples into "
            f"{len(y) - num_test} to train on and {num_test} to test on, but each part "
            f"needs all {len(classes)} classes; use more data or a test_fraction nearer 0.5"
        )
    from sklearn import model_selection  # Deferred: slow to import, needed only here.

    return model_selection.train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed, shuffle=True
    )


def _stratified_pick(
    y: np.ndarray, num_picked: int, rng: np.random.Generator, *, keep_one_back: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Splits row indices into `num_picked` stratified rows and the rest, both shuffled.

    Each class gets its proportional share, at least 1 and, with
    `keep_one_back`, at most its count - 1; ties go to a seeded random class.
    The caller ensures this is feasible.
    """
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    low, high = np.ones_like(counts), counts - 1 if keep_one_back else counts
    ideal = num_picked * counts / len(y)
    quota = np.clip(np.floor(ideal).astype(np.int64), low, high)
    tiebreak = rng.random(len(classes))
    while quota.sum() != num_picked:
        step = 1 if quota.sum() < num_picked else -1
        room = quota < high if step == 1 else quota > low
        score = np.where(room, step * (ideal - quota), -np.inf)
        quota[np.lexsort((tiebreak, score))[-1]] += step
    picked, rest = [], []
    for index, count in enumerate(quota):
        rows = rng.permutation(np.flatnonzero(inverse == index))
        picked.append(rows[:count])
        rest.append(rows[count:])
    return rng.permutation(np.concatenate(picked)), rng.permutation(np.concatenate(rest))


def _check_fraction(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise DataError(f"`{name}` ({value!r}) must be a number strictly between 0 and 1")


def _check_seed(seed: int) -> None:
    if not _is_int(seed) or seed < 0:
        raise DataError(f"`seed` ({seed!r}) must be a non-negative integer")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
