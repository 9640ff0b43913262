"""Search folders: refusing to clobber them, resuming only the same search, fingerprints.

A strategy comparison's folder (`strategy_comparison`) gets the same treatment:
`comparison_config.json` records its strategies and settings, and resuming is
allowed only for the same ones (each strategy's own search folder inside is
checked by `check_search_dir` as usual).

A search folder records in `search_config.json` a fingerprint of what makes its
trials comparable: the objective, the search space, the training settings and the
data. Resuming is allowed only when all four match (`max_trials` may differ, so a
finished search can be extended). Standard library only: the CLI runs
`check_search_dir` before TensorFlow is imported; the data part of the
fingerprint is compared by `tuning.search` once the data is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from keras_minibatch.run_folders import folder_checks
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.checks import ConfigError
from keras_minibatch.config import TrainConfig
from keras_minibatch.run_folders.run_files import COMPARISON_CONFIG_FILE, SEARCH_CONFIG_FILE, TRIALS_JSON, TUNER_PROJECT
from keras_minibatch.tuning.search_config import SearchConfig

__all__ = [
    "COMPARISON_CONFIG_FILE", "SEARCH_CONFIG_FILE", "check_comparison_dir", "check_same_search", "check_search_dir", "search_differences",
    "comparison_fingerprint", "config_fingerprint", "search_identity",
]

_PARTS = (("objective", "objective"), ("search_space", "search space"), ("data", "data"), ("train_config", "training settings"))


def config_fingerprint(train_config: TrainConfig, search_config: SearchConfig) -> dict[str, Any]:
    """Returns the fingerprint's `objective`, `search_space` and `train_config` parts, as JSON reads them back."""
    space = search_config.to_dict()
    del space["max_trials"]
    objective = space.pop("objective")
    return json.loads(json.dumps({"objective": objective, "search_space": space, "train_config": train_config.to_dict()}))


def search_identity(fingerprint: Mapping[str, Any]) -> str:
    """A short digest of a whole fingerprint (data included), which a distributed search's workers send their chief.

    The data file's path is left out: the data's own digest identifies it, and a
    worker on another machine may keep the same file elsewhere.
    """
    parts = json.loads(json.dumps(fingerprint))
    if "data" in parts:
        parts.get("train_config", {}).pop("dataset", None)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def search_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Names every part of `current` (a fingerprint) that differs from `saved`, e.g. `"data (sha256, train_samples)"`.

    Only the parts present in `current` are compared.
    """
    differences = []
    for key, label in _PARTS:
        if key not in current or saved.get(key) == current[key]:
            continue
        before, now = saved.get(key), current[key]
        if isinstance(before, dict) and isinstance(now, dict):
            names = sorted(name for name in set(before) | set(now) if before.get(name) != now.get(name))
            differences.append(f"{label} ({', '.join(names)})")
        else:
            differences.append(f"{label} ({before} there, {now} now)")
    return differences


def check_same_search(saved: Mapping[str, Any], current: Mapping[str, Any], workdir: str | os.PathLike) -> None:
    """Raises `RunDirError` naming every part of `current` (a fingerprint) that differs from `saved`."""
    differences = search_differences(saved, current)
    if differences:
        raise rundir.RunDirError(
            f"--workdir {str(workdir)!r} holds a search with a different {'; '.join(differences)}: its trials are not "
            "comparable with this search. Pass --overwrite to replace it, or choose another folder."
        )


def check_search_dir(
    workdir: str | os.PathLike,
    *,
    resume: bool = False,
    overwrite: bool = False,
    train_config: TrainConfig | None = None,
    search_config: SearchConfig | None = None,
) -> dict[str, Any] | None:
    """Checks, changing nothing, that `workdir` can take this search.

    Args:
        workdir: The search folder.
        resume: Whether the search continues one in `workdir`. Defaults to `False`.
        overwrite: Whether `workdir`'s contents may be deleted. Defaults to `False`.
        train_config: With `search_config`, compared with a resumed search's.
        search_config: With `train_config`, compared with a resumed search's.

    Returns:
        The saved `search_config.json` record when resuming a search, else `None`.

    Raises:
        ConfigError: when both `resume` and `overwrite` are set.
        RunDirError: when `workdir` is a file; holds files and neither flag is
            set; is resumed but holds no search; or holds a search with another
            objective, space or training settings and `overwrite` is not set.
    """
    if resume and overwrite:
        raise ConfigError("resume", resume, "cannot be combined with --overwrite: resume continues the search in the folder, overwrite deletes it; pass one of them")
    path = Path(workdir)
    record_path = _record_to_resume(path, run_files.SEARCH, SEARCH_CONFIG_FILE, resume=resume, overwrite=overwrite)
    if record_path is None:
        return None
    record = _read_state_json(record_path, expected=dict, keys=("fingerprint", "search_config", "train_config"))
    _check_search_state(path)
    if train_config is not None and search_config is not None:
        check_same_search(record.get("fingerprint", {}), config_fingerprint(train_config, search_config), path)
    return record


def _record_to_resume(path: Path, kind: str, record_file: str, *, resume: bool, overwrite: bool) -> Path | None:
    """Returns the saved record of the `kind` folder `path` to resume, or `None` when the folder starts afresh.

    Raises:
        RunDirError: as `folder_checks.check_folder`, or when a resumed folder
            holds no `record_file`.
    """
    folder_checks.check_folder(path, kind, resume=resume, overwrite=overwrite)
    if not resume:
        return None
    record_path = path / record_file
    if not record_path.is_file():
        if not folder_checks.folder_holds_files(path):
            return None  # Killed before its first write: start afresh.
        raise rundir.RunDirError(
            f"--workdir {str(path)!r} holds files but no {record_file}, so it is not a {kind} to resume; "
            "choose another folder."
        )
    return record_path


def _read_state_json(path: Path, *, expected: type = object, keys: Sequence[str] = ()) -> Any:
    """Reads one saved-state JSON file, naming it when it is damaged or not of the shape written.

    Raises:
        CorruptCheckpointError: naming the file and the way out.
    """
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(value, expected):
            raise ValueError(f"it holds a {type(value).__name__}, not a JSON {'object' if expected is dict else 'list'}")
        missing = [key for key in keys if key not in value]
        if missing:
            raise ValueError(f"it lacks {', '.join(missing)}")
        return value
    except (OSError, ValueError) as error:
        raise rundir.CorruptCheckpointError(
            f"{str(path)!r} is corrupt ({error}), so the search cannot be resumed from it; pass --overwrite "
            f"to start the search again (the trials finished so far are listed in {TRIALS_JSON})."
        ) from error


# What KerasTuner's oracle and trial files hold (`Oracle.get_state`, `Trial.get_state`).
_ORACLE_KEYS = ("ongoing_trials", "start_order", "end_order", "run_times", "tried_so_far", "id_to_hash")
_TRIAL_KEYS = ("trial_id", "hyperparameters", "status")


def _check_search_state(path: Path) -> None:
    """Checks the files a resumed search reads: the trial table and KerasTuner's project, before KerasTuner does.

    KerasTuner writes its files in place, so a crash mid-write truncates one; a
    hand edit or a deleted trial folder would otherwise end in a `KeyError` deep
    inside its reload.

    Raises:
        CorruptCheckpointError: naming the file or folder and the way out.
    """
    if (path / TRIALS_JSON).is_file():
        _read_state_json(path / TRIALS_JSON, expected=list)
    project = path / TUNER_PROJECT
    oracle_path = project / "oracle.json"
    for state_file in sorted(project.glob("*.json")):
        _read_state_json(state_file, expected=dict, keys=_ORACLE_KEYS if state_file == oracle_path else ())
    for trial_file in sorted(project.glob("trial_*/trial.json")):
        _read_state_json(trial_file, expected=dict, keys=_TRIAL_KEYS)
    if not oracle_path.is_file():
        return
    oracle = json.loads(oracle_path.read_text(encoding="utf-8"))
    listed = {str(trial_id) for trial_id in oracle.get("start_order", [])}
    lost = sorted((trial_id for trial_id in listed if not (project / f"trial_{trial_id}" / "trial.json").is_file()), key=lambda t: (len(t), t))
    if lost:
        raise rundir.CorruptCheckpointError(
            f"{str(project)!r} lists trial {', '.join(lost)} in oracle.json but {'its folder is' if len(lost) == 1 else 'their folders are'} "
            f"missing (trial_{lost[0]}/trial.json); restore {'it' if len(lost) == 1 else 'them'}, or pass --overwrite to start the search again "
            f"(the trials finished so far are listed in {TRIALS_JSON})."
        )


def comparison_fingerprint(train_config: TrainConfig, search_config: SearchConfig, strategies: Sequence[str]) -> dict[str, Any]:
    """Returns what makes two strategy comparisons the same: strategies, objective, space (not its tuner), training settings."""
    fingerprint = config_fingerprint(train_config, search_config)
    del fingerprint["search_space"]["tuner"]
    return {"strategies": list(strategies), **fingerprint}


def check_comparison_dir(
    workdir: str | os.PathLike,
    *,
    resume: bool = False,
    overwrite: bool = False,
    fingerprint: Mapping[str, Any] | None = None,
) -> None:
    """Checks, changing nothing, that `workdir` can take a strategy comparison.

    Args:
        workdir: The comparison folder.
        resume: Whether the comparison continues one in `workdir`. Defaults to `False`.
        overwrite: Whether `workdir`'s contents may be deleted. Defaults to `False`.
        fingerprint: `comparison_fingerprint(...)` of this comparison, compared
            with a resumed one's. Defaults to `None` (not compared).

    Raises:
        ConfigError: when both `resume` and `overwrite` are set.
        RunDirError: when `workdir` is a file; holds files and neither flag is
            set; is resumed but holds no comparison; or holds a comparison of
            other strategies or settings.
    """
    if resume and overwrite:
        raise ConfigError("resume", resume, "cannot be combined with --overwrite: resume continues the comparison in the folder, overwrite deletes it; pass one of them")
    path = Path(workdir)
    record_path = _record_to_resume(path, run_files.STRATEGY_COMPARISON, COMPARISON_CONFIG_FILE, resume=resume, overwrite=overwrite)
    if record_path is None:
        return
    saved = _read_state_json(record_path, expected=dict)
    if fingerprint is None:
        return
    current = json.loads(json.dumps(dict(fingerprint)))
    if saved.get("strategies") != current["strategies"]:
        raise rundir.RunDirError(
            f"--workdir {str(path)!r} holds a comparison of {', '.join(saved.get('strategies') or [])}, not of "
            f"{', '.join(current['strategies'])}. Pass --overwrite to replace it, or choose another folder."
        )
    check_same_search(saved, current, path)
