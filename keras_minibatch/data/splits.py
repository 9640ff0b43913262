"""Seeded, stratified splits: the carved test split, the training subsample and the validation order.

Every split keeps each class's share of the rows and is fixed by a seed, so a
run resumed or repeated with the same seed sees the same rows.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from keras_minibatch.data.array_checks import check_labels
from keras_minibatch.data.dataset import DataError


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
    check_fraction("validation_split", validation_split)
    check_seed(seed)
    y = check_labels(y, "`y`")
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
    picked, rest = stratified_pick(
        y, num_val, np.random.default_rng(seed), keep_one_back=True
    )
    return np.concatenate([rest, picked]).astype(np.int64)


def carve_test_split(
    x: np.ndarray, y: np.ndarray, *, test_fraction: float, seed: int, where: str
) -> list[np.ndarray]:
    """Carves a stratified, seeded test split out of a source's only split.

    Returns:
        `[x_train, x_test, y_train, y_test]`, as scikit-learn's `train_test_split`.

    Raises:
        DataError: If a class has fewer than 2 samples or either part would be
            smaller than the number of classes; `where` names the labels.
    """
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


def subsample_training_rows(
    x: np.ndarray, y: np.ndarray, max_train_samples: int, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keeps a stratified, seeded subsample of `max_train_samples` rows (all rows if fewer).

    Raises:
        DataError: If `max_train_samples` is smaller than the number of classes present.
    """
    if max_train_samples >= len(y):
        return x, y
    num_present = len(np.unique(y))
    if max_train_samples < num_present:
        raise DataError(
            f"`max_train_samples` ({max_train_samples}) is smaller than the "
            f"{num_present} classes in the training split; use at least {num_present}"
        )
    keep, _ = stratified_pick(
        y, max_train_samples, np.random.default_rng(seed), keep_one_back=False
    )
    return x[keep], y[keep]


def stratified_pick(
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


def check_fraction(name: str, value: float) -> None:
    """Raises `DataError` unless `value` is a number strictly between 0 and 1; `name` names it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise DataError(f"`{name}` ({value!r}) must be a number strictly between 0 and 1")


def check_seed(seed: int) -> None:
    """Raises `DataError` unless `seed` is a non-negative integer."""
    if not _is_int(seed) or seed < 0:
        raise DataError(f"`seed` ({seed!r}) must be a non-negative integer")


def check_max_train_samples(max_train_samples: int | None) -> None:
    """Raises `DataError` unless `max_train_samples` is `None` or a positive integer."""
    if max_train_samples is not None and (
        not _is_int(max_train_samples) or max_train_samples < 1
    ):
        raise DataError(
            f"`max_train_samples` ({max_train_samples!r}) must be None or a positive integer"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
