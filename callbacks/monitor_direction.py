"""Which way a monitored metric should go: the `mode="auto"` rule of Keras' monitoring callbacks."""

from __future__ import annotations

import keras


def infer_mode(model: keras.Model | None, monitor: str) -> str:
    """Returns `"min"` or `"max"` for `monitor`, as Keras' `mode="auto"` decides.

    `loss` goes down; otherwise the compiled metric of that name (without
    `val_`) says: accuracy and AUC go up, errors go down.

    Args:
        model: The model, whose compiled metrics are built (after the first
            epoch).
        monitor: The monitored log key, such as `"val_accuracy"`.

    Returns:
        `"min"` or `"max"`.

    Raises:
        ValueError: When neither the name nor a compiled metric tells.
    """
    name = monitor.removeprefix("val_")
    mode = "min" if name == "loss" else None
    for container in getattr(model, "metrics", None) or []:
        inner = getattr(container, "metrics", None)  # The compiled metrics.
        for metric in inner if isinstance(inner, list) else []:
            if metric.name == name and hasattr(metric, "_direction"):
                mode = "max" if metric._direction == "up" else "min"
    if mode is None:
        raise ValueError(
            f"EarlyStopping cannot tell whether `monitor` ({monitor!r}) should go up or down: "
            "no compiled metric says. Pass `mode='max'` or `mode='min'`."
        )
    return mode
