"""Loads one image classification source into a checked `Dataset`.

Reads the source (`data.sources`), checks and scales every array
(`data.array_checks`), carves a test split when the source has none and
subsamples the training rows on request (`data.splits`).

This module never imports TensorFlow or Keras at import time: only a MNIST or
Fashion-MNIST download imports Keras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from keras_minibatch.config import TrainConfig

from keras_minibatch.data.array_checks import check_classes, check_labels, decided_scale, to_pixels
from keras_minibatch.data.dataset import DataError, Dataset
from keras_minibatch.data.sources import read_source
from keras_minibatch.data.splits import (
    carve_test_split,
    check_fraction,
    check_max_train_samples,
    check_seed,
    subsample_training_rows,
)


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
        source: `"mnist"` or `"fashion_mnist"` (Keras' datasets, from the
            cache or downloaded), `"digits"` (scikit-learn's bundled 8x8
            digits), a `.npz` file
            with `x_train, y_train, x_test, y_test` (or only `x_train, y_train`
            or `x, y`), or a folder of IDX files (`*-idx3-ubyte`/`*-idx1-ubyte`,
            optionally `.gz`). A name wins over a same-named folder.
        test_fraction: Share of samples held out for testing when the source
            has no test split of its own. Defaults to `0.2`.
        seed: Seed of the stratified test split and training subsample.
            Defaults to `0`.
        cache_dir: Keras cache folder holding `datasets/mnist.npz` and
            `datasets/fashion-mnist/`; `None` means Keras' default
            (`$KERAS_HOME`, else `~/.keras`). Defaults to `None`.
        max_train_samples: If set, keep a stratified, seeded subsample of this
            many training rows (the test split is untouched). Defaults to
            `None` (all rows).

    Returns:
        A `Dataset`.

    Raises:
        DataError: On a bad argument, missing or malformed data, or an
            uncached MNIST or Fashion-MNIST while offline.
    """
    check_fraction("test_fraction", test_fraction)
    check_seed(seed)
    check_max_train_samples(max_train_samples)
    raw = read_source(source, cache_dir)

    splits = ("train", "test") if "x_test" in raw.arrays else ("train",)
    if len(splits) == 2 and raw.pixel_scale is None:
        scales = {split: decided_scale(np.asarray(raw.arrays[f"x_{split}"]), raw.where[f"x_{split}"]) for split in splits}
        if scales["train"] != scales["test"]:
            names = {1.0: "floats in [0, 1]", 255.0: "pixels on the 0..255 scale"}
            raise DataError(
                f"{raw.where['x_train']} holds {names[scales['train']]} but {raw.where['x_test']} holds "
                f"{names[scales['test']]}; put both splits on one scale"
            )
    x, y = {}, {}
    for split in splits:
        x_key, y_key = f"x_{split}", f"y_{split}"
        x[split] = to_pixels(raw.arrays[x_key], raw.where[x_key], raw.pixel_scale)
        y[split] = check_labels(raw.arrays[y_key], raw.where[y_key])
        if len(x[split]) != len(y[split]):
            raise DataError(
                f"{raw.where[x_key]} has {len(x[split])} images but {raw.where[y_key]} "
                f"has {len(y[split])} labels; they must match"
            )
    num_classes = raw.num_classes or int(y["train"].max()) + 1
    check_classes(y["train"], num_classes, raw.where["y_train"])
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
        x_train, x_test, y_train, y_test = carve_test_split(
            x["train"], y["train"], test_fraction=test_fraction, seed=seed,
            where=raw.where["y_train"],
        )
    else:
        x_train, x_test, y_train, y_test = x["train"], x["test"], y["train"], y["test"]

    if max_train_samples is not None:
        x_train, y_train = subsample_training_rows(x_train, y_train, max_train_samples, seed=seed)

    return Dataset(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        source=raw.source, num_classes=num_classes, test_split_carved=len(splits) == 1,
    )


def load_dataset_for(config: "TrainConfig") -> Dataset:
    """Loads `config.dataset` with the config's test fraction, seed and row cap."""
    return load_dataset(config.dataset, test_fraction=config.test_fraction, seed=config.seed, max_train_samples=config.max_train_samples)
