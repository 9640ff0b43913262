"""Which `tf.distribute` strategy a training runs under, as `TrainConfig.distribution` names it.

`train` makes its strategy first, before any other TensorFlow work
(`start_distribution`); the core makes one for a model it builds without one; a
search's trials get theirs from `trial_strategy`. TensorFlow is imported only
when a strategy is made.
"""

from __future__ import annotations

from typing import Any

from keras_minibatch.config import ConfigError, TrainConfig
from keras_minibatch.training import multi_worker


def make_strategy(distribution: str) -> Any:
    """Returns the `tf.distribute` strategy named by `TrainConfig.distribution`."""
    import tensorflow as tf

    if distribution == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribution == "multi_worker":
        multi_worker.check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def start_distribution(config: TrainConfig) -> Any:
    """Creates `config`'s `tf.distribute` strategy; call it first, before any other TensorFlow work.

    `MultiWorkerMirroredStrategy` configures collective ops, which TensorFlow
    allows only before its first operation; hand the result to `Trainer`.
    Returns `None` for `distribution="none"` (one replica, fused updates).
    """
    return None if config.distribution == "none" else make_strategy(config.distribution)


def trial_strategy(config: TrainConfig) -> Any:
    """The strategy KerasTuner builds trial models under: `None` on one replica (the core fuses their updates).

    Raises:
        ConfigError: for `distribution="multi_worker"`, which is for
            `train_and_evaluate` only.
    """
    if config.distribution == "multi_worker":
        raise ConfigError(
            "distribution", "multi_worker",
            "is for train_and_evaluate; a search spreads its trials over machines with KerasTuner's chief/worker mode",
        )
    return None if config.distribution == "none" else make_strategy(config.distribution)
