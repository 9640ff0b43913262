"""How much wall time a search adds to the trainings it runs.

Runs N trials with `keras_minibatch.search` (the winner is not retrained:
`retrain_winner=False`) and trains the same N configurations with plain
`model.fit` in the same process, on the same rows, for the same epochs, with the
same seeds, and prints one table: both wall times, the overhead and the machine.
Repeats alternate which side runs first, so drift in a shared machine's load
falls on both; process CPU time is shown beside wall time because it is less
sensitive to other processes. Both sides are warmed up first (TensorFlow's
start-up, the first summary writer), so one-off costs count on neither.

    python benchmarks/tuning_overhead.py                  # 8 trials x 5 epochs on digits, 2 repeats
    python benchmarks/tuning_overhead.py --num_trials=20 --epochs=10 --repeats=3
    python benchmarks/tuning_overhead.py --profile=search.prof   # cProfile the searches
    python benchmarks/tuning_overhead.py --quick          # seconds: the smoke test's size
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # Its sibling modules, also when loaded by path.

from machine_info import machine  # noqa: E402  (after the path it needs)

QUICK = {"num_trials": 2, "epochs": 1, "max_train_samples": 200, "repeats": 1}


def _plain_fits(train_config, hyperparameter_sets: Sequence[dict[str, Any]], dataset) -> None:
    """Trains each configuration as a search trial does, with nothing but `fit`."""
    import keras

    from keras_minibatch.tuning.trial_config import train_config_for
    from keras_minibatch.training.model import build_mlp
    from keras_minibatch.training.validation_rows import split_for_validation

    x_train, y_train, _ = split_for_validation(dataset, train_config)
    for values in hyperparameter_sets:
        config = train_config_for(train_config, values)
        keras.utils.set_random_seed(config.seed)
        model = build_mlp(
            dataset.input_shape, dataset.num_classes, hidden_units=config.hidden_units, activation=config.activation,
            dropout=config.dropout, optimizer=config.optimizer, learning_rate=config.learning_rate,
            steps_per_execution=config.steps_per_execution,
        )
        model.fit(x_train, y_train, batch_size=config.batch_size, epochs=config.epochs,
                  validation_split=config.validation_split, shuffle=True, verbose=0)


def _timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """Returns `function(*args)`, its wall seconds and this process's CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = function(*args)
    return value, time.perf_counter() - wall, time.process_time() - cpu


def measure_overhead(
    *,
    dataset: str = "digits",
    num_trials: int = 8,
    epochs: int = 5,
    tuner: str = "random",
    repeats: int = 2,
    max_train_samples: int | None = None,
    workdir: str | os.PathLike,
    profile: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Times `num_trials` search trials against the same configurations trained by plain `fit`.

    Args:
        dataset: Data source, as `TrainConfig.dataset`. Defaults to `"digits"`.
        num_trials: Trials per search (the search's `max_trials`). Defaults to `8`.
        epochs: Epochs per trial and per plain training. Defaults to `5`.
        tuner: The KerasTuner tuner (`SearchConfig.tuner`). Defaults to `"random"`.
        repeats: Timed search/plain pairs; odd ones run plain first. Defaults to `2`.
        max_train_samples: Cap on training rows. Defaults to `None` (all).
        workdir: Folder for the search folders (one per repeat, plus a warm-up).
        profile: File for cProfile statistics of the timed searches; `None` profiles nothing.

    Returns:
        A dict: `runs` (per repeat: `order`, `search_seconds`, `plain_seconds`,
        `search_cpu_seconds`, `plain_cpu_seconds`), the totals, `overhead` (total
        search wall time over total plain wall time, minus 1), `overhead_per_trial_ms`,
        the settings and `machine`.

    Raises:
        ValueError: for `num_trials`, `epochs` or `repeats` below 1.
    """
    for name, value in (("num_trials", num_trials), ("epochs", epochs), ("repeats", repeats)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` ({value!r}) must be an integer >= 1.")
    from keras_minibatch import SearchConfig, TrainConfig, load_dataset, search

    train_config = TrainConfig(dataset=dataset, epochs=epochs, max_train_samples=max_train_samples)
    search_config = SearchConfig(tuner=tuner, max_trials=num_trials)
    data = load_dataset(dataset, test_fraction=train_config.test_fraction, seed=train_config.seed, max_train_samples=max_train_samples)
    root = Path(workdir)

    def run_search(name: str, config: SearchConfig = search_config, train: Any = train_config):
        return search(train, config, root / name, dataset=data, overwrite=True, retrain_winner=False, verbose=0)

    warm = run_search("warm-up", search_config.replace(max_trials=1), train_config.replace(epochs=1))
    _plain_fits(train_config.replace(epochs=1), [warm.best_hyperparameters], data)

    profiler = cProfile.Profile() if profile is not None else None
    runs, hyperparameter_sets = [], None
    for repeat in range(repeats):
        plain_first = repeat % 2 == 1 and hyperparameter_sets is not None
        if plain_first:
            _, plain_wall, plain_cpu = _timed(_plain_fits, train_config, hyperparameter_sets, data)
        if profiler is not None:
            profiler.enable()
        result, search_wall, search_cpu = _timed(run_search, f"search-{repeat + 1}")
        if profiler is not None:
            profiler.disable()
        sets = [row["hyperparameters"] for row in result.trials]
        if hyperparameter_sets is not None and sets != hyperparameter_sets:
            raise RuntimeError("the seeded search drew other configurations on a repeat; the comparison would be unfair")
        hyperparameter_sets = sets
        if not plain_first:
            _, plain_wall, plain_cpu = _timed(_plain_fits, train_config, hyperparameter_sets, data)
        runs.append({
            "order": "plain first" if plain_first else "search first", "search_seconds": search_wall, "plain_seconds": plain_wall,
            "search_cpu_seconds": search_cpu, "plain_cpu_seconds": plain_cpu,
        })
    if profiler is not None:
        profiler.dump_stats(str(profile))

    totals = {key: sum(run[key] for run in runs) for key in runs[0] if key.endswith("seconds")}
    return {
        "dataset": data.source, "fit_rows": len(data.y_train), "num_trials": num_trials, "epochs": epochs, "tuner": tuner,
        "repeats": repeats, "runs": runs, **{f"total_{key}": value for key, value in totals.items()},
        "overhead": totals["search_seconds"] / totals["plain_seconds"] - 1.0,
        "cpu_overhead": totals["search_cpu_seconds"] / totals["plain_cpu_seconds"] - 1.0,
        "overhead_per_trial_ms": 1000.0 * (totals["search_seconds"] - totals["plain_seconds"]) / (num_trials * repeats),
        "machine": machine(),
    }


def format_table(measured: dict[str, Any]) -> str:
    """Returns the printed report of `measure_overhead`'s result."""
    title = (
        f"tuning overhead: {measured['tuner']} search vs plain fit, {measured['num_trials']} trials x {measured['epochs']} "
        f"epoch{'s' if measured['epochs'] != 1 else ''}, {measured['dataset']} ({measured['fit_rows']:,} training rows), "
        f"{measured['repeats']} repeat{'s' if measured['repeats'] != 1 else ''}"
    )
    lines = [
        title,
        measured["machine"],
        f"{'repeat':>6}  {'order':<12}  {'search s':>9}  {'plain s':>8}  {'overhead':>8}  {'search cpu s':>12}  {'plain cpu s':>11}",
    ]
    for number, run in enumerate(measured["runs"], start=1):
        ratio = run["search_seconds"] / run["plain_seconds"] - 1.0
        lines.append(
            f"{number:>6}  {run['order']:<12}  {run['search_seconds']:>9.2f}  {run['plain_seconds']:>8.2f}  {ratio:>+8.1%}  "
            f"{run['search_cpu_seconds']:>12.2f}  {run['plain_cpu_seconds']:>11.2f}"
        )
    lines.append(
        f"{'total':>6}  {'':<12}  {measured['total_search_seconds']:>9.2f}  {measured['total_plain_seconds']:>8.2f}  "
        f"{measured['overhead']:>+8.1%}  {measured['total_search_cpu_seconds']:>12.2f}  {measured['total_plain_cpu_seconds']:>11.2f}"
    )
    lines.append(
        f"overhead: {measured['overhead']:+.1%} wall ({measured['overhead_per_trial_ms']:+.0f} ms per trial), "
        f"{measured['cpu_overhead']:+.1%} CPU"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, *, print_fn: Callable[[str], Any] = print) -> dict[str, Any]:
    """Parses `argv` (without the program name), measures, prints the table and returns the measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="data source (default: digits)")
    parser.add_argument("--num_trials", type=int, default=8, help="trials per search (default: 8)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per trial (default: 5)")
    parser.add_argument("--tuner", default="random", help="random, bayesian, grid or hyperband (default: random)")
    parser.add_argument("--repeats", type=int, default=2, help="timed search/plain pairs (default: 2)")
    parser.add_argument("--max_train_samples", type=int, default=None, help="cap on training rows")
    parser.add_argument("--workdir", default=None, help="folder for the search folders (default: a temporary one)")
    parser.add_argument("--profile", default=None, help="write cProfile statistics of the searches here and print the top")
    parser.add_argument("--quick", action="store_true", help="2 trials x 1 epoch on 200 rows, 1 repeat (a smoke test)")
    args = parser.parse_args(argv)
    settings = {
        "dataset": args.dataset, "num_trials": args.num_trials, "epochs": args.epochs, "tuner": args.tuner,
        "repeats": args.repeats, "max_train_samples": args.max_train_samples, "profile": args.profile,
    }
    if args.quick:
        settings.update(QUICK)
    with tempfile.TemporaryDirectory(prefix="tuning-overhead-") as scratch:
        measured = measure_overhead(workdir=args.workdir or scratch, **settings)
    print_fn(format_table(measured))
    if args.profile:
        stats = pstats.Stats(args.profile, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(25)
    return measured


if __name__ == "__main__":
    main()
