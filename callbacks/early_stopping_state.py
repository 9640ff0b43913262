"""Early stopping's run state as a checkpoint stores it: checked, and read as Keras' values."""

from __future__ import annotations

from typing import Any

from callbacks.arguments import check, is_count, is_real

STATE_KEYS = ("wait", "best", "best_epoch", "stopped_epoch", "stop_reason")
_OPTIONAL_KEYS = ("stop_reason",)  # Added later: earlier checkpoints lack it.


def read_state(state: Any) -> dict[str, Any]:
    """Checks `EarlyStopping.get_state()` output and returns it with Python types.

    `None` for `best_epoch` or `stopped_epoch` (what earlier versions saved
    before any best or stop) reads as 0, Keras' value there, and a missing
    `stop_reason` as `None`, so checkpoints written by them still resume.

    Args:
        state: The saved state, as loaded from JSON.

    Returns:
        The state with `wait`, `best_epoch` and `stopped_epoch` as ints,
        `best` as a float or `None` and `stop_reason` as a string or `None`.

    Raises:
        ValueError: When `state` is not what `get_state()` returns.
    """
    keys = sorted(state) if isinstance(state, dict) else state
    required = set(STATE_KEYS) - set(_OPTIONAL_KEYS)
    check("state", keys, isinstance(state, dict) and required <= set(state) <= set(STATE_KEYS),
          f"a dict with the keys {sorted(STATE_KEYS)}")
    reason = state.get("stop_reason")
    check("state['stop_reason']", reason, reason is None or isinstance(reason, str), "a string or None")
    check("state['wait']", state["wait"], is_count(state["wait"]), "a whole number >= 0")
    for key in ("best_epoch", "stopped_epoch"):
        check(f"state[{key!r}]", state[key], state[key] is None or is_count(state[key]),
              "a whole number >= 0 or None")
    check("state['best']", state["best"], state["best"] is None or is_real(state["best"]),
          "a number or None")
    return {
        "wait": int(state["wait"]),
        "best": None if state["best"] is None else float(state["best"]),
        "best_epoch": int(state["best_epoch"] or 0),
        "stopped_epoch": int(state["stopped_epoch"] or 0),
        "stop_reason": reason,
    }
