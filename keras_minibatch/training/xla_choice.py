"""Whether a training compiles its updates with XLA: what `jit_compile="auto"` resolves to.

XLA makes each fused update faster, but compiles before the first one, and that
compile costs about the same whatever the training's length. A short training
(a digits run, a search trial: a few hundred updates) finishes sooner without
it; a long one repays it many times. `"auto"` compiles when the training plans
at least `AUTO_XLA_MIN_UPDATES` updates, about one MNIST-sized epoch at batch
32: from there XLA's extra start-up is a small share of the run and every
later epoch is much faster, so a run's steady epochs are XLA's whatever its
length (docs/performance.md has the measurements and the trade-off). `True`
and `False` are kept as given.

The choice is made here for every command that trains (`core.Trainer` calls
`resolve_jit_compile`); a run records it in its `config.json`, so a resumed run
keeps it even when `epochs` grew. Standard library only.
"""

from __future__ import annotations

import math

from keras_minibatch.config import JIT_COMPILE_AUTO, TrainConfig

__all__ = ["AUTO_XLA_MIN_UPDATES", "planned_updates", "resolve_jit_compile"]

# About one epoch of 60,000 rows at batch 32 (1,875 updates; 1,688 with 10% held out). See docs/performance.md.
AUTO_XLA_MIN_UPDATES = 1_500


def planned_updates(*, epochs: int, epoch_rows: int, batch_size: int) -> int:
    """Returns the optimizer updates of `epochs` epochs of `epoch_rows` rows, `batch_size` rows per update."""
    return epochs * math.ceil(epoch_rows / batch_size)


def resolve_jit_compile(config: TrainConfig, *, num_updates: int) -> bool:
    """Returns whether a training of `num_updates` updates compiles them with XLA.

    Args:
        config: The training's settings: `jit_compile` (`True`, `False` or
            `"auto"`) and `distribution`.
        num_updates: The optimizer updates the training plans
            (`planned_updates`).

    Returns:
        `config.jit_compile` when it is `True` or `False`; for `"auto"`,
        whether `num_updates` reaches `AUTO_XLA_MIN_UPDATES` (never under
        `distribution="multi_worker"`, where XLA has no cross-worker
        collectives on CPU).
    """
    if config.jit_compile != JIT_COMPILE_AUTO:
        return bool(config.jit_compile)
    if config.distribution == "multi_worker":
        return False
    return num_updates >= AUTO_XLA_MIN_UPDATES
