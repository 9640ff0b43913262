"""Training one model on several machines with `tf.distribute.MultiWorkerMirroredStrategy`.

Every worker runs the same `train` command; `TF_CONFIG` tells each one the
cluster and its own place in it (TensorFlow's convention):

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.5:12345", "10.0.0.6:12345"]},
                "task": {"type": "worker", "index": 0}}'

Each worker loads the same data and seed; Keras shards every global batch of
`batch_size` rows across the workers (`AutoShardPolicy.DATA`), the gradients are
all-reduced, so all workers hold the same weights after every update.

Keras cannot `fit` under this strategy as shipped (tensorflow/tensorflow#72388);
`prepare_model` applies `compat`'s two workarounds to one model instance: nothing
of them is saved, and the saved model loads as a plain Keras model.

Until `prepare_model` runs, this module needs the standard library only: the
CLI checks `TF_CONFIG` with `check_tf_config` before TensorFlow loads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any


class ClusterConfigError(ValueError):
    """`TF_CONFIG` is missing or does not describe a cluster of workers."""

    def __init__(self, value: str | None, allowed: str):
        super().__init__(f"environment variable TF_CONFIG={value if value else '(unset)'} {allowed}")


def check_tf_config(environ: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """Checks `TF_CONFIG` for multi-worker training.

    Returns:
        `(num_workers, task_index)`.

    Raises:
        ClusterConfigError: naming `TF_CONFIG`, the value and what is allowed.
    """
    raw = environ.get("TF_CONFIG")
    expected = 'JSON like {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}'
    if not raw:
        raise ClusterConfigError(raw, f"must be set for --distribution=multi_worker: {expected}")
    try:
        parsed = json.loads(raw)
        workers = parsed["cluster"]["worker"]
        task_type, index = parsed["task"]["type"], parsed["task"]["index"]
    except (ValueError, KeyError, TypeError):
        raise ClusterConfigError(raw, f"must be {expected}") from None
    if not isinstance(workers, list) or not workers or not all(isinstance(address, str) and ":" in address for address in workers):
        raise ClusterConfigError(raw, 'must list the workers as "host:port" strings in cluster.worker')
    if set(parsed["cluster"]) - {"worker"}:
        raise ClusterConfigError(raw, "must name only workers in cluster (worker 0 acts as chief)")
    if task_type != "worker" or not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(workers):
        raise ClusterConfigError(raw, f"must have task type 'worker' and an index from 0 to {len(workers) - 1}")
    return len(workers), index


def prepare_model(model: Any, strategy: Any) -> None:
    """Lets Keras 3 `fit`, `evaluate` and `predict` `model` under `strategy`.

    Call after building and compiling the model in the strategy's scope, on
    every worker. With a single worker (however many devices it has) Keras
    takes its single-worker path, which needs nothing: the model is left alone.
    """
    from keras_minibatch import compat

    if strategy.cluster_resolver.cluster_spec().num_tasks("worker") < 2:
        return
    compat.skip_symbolic_build(model)
    compat.rank_one_step_results(model)
