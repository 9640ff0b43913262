"""The commands as a user meets them: whole runs, timed from outside, beside their baselines.

`train_speed.py` times epochs inside one process. This script times what a user
waits for: fresh processes of the installed command, each round running every
measurement once in turn, so a busy spell on a shared machine falls on all of
them; the table gives the median over rounds (and the fastest) and the ratios.

- **Fixed costs**: `python -c "import tensorflow, keras"` (the baseline: what
  any TensorFlow program pays), `keras-minibatch train --dataset=digits` with
  its defaults, and a 6-trial, 5-epoch random search on digits.
- **The steady epoch**: `keras-minibatch train` on `--num_samples`
  MNIST-shaped rows for 4 epochs and for 1; the difference over 3 is what one
  more epoch costs the command, checkpoint, logs and all. Its baselines, in a
  fresh process each round: the seed notebook's loop as written (`x / 255.0`
  float64 pixels, `from_tensor_slices(...).shuffle(1024).batch(32)`, a
  `tf.function` GradientTape step, metrics reset per epoch; its per-epoch test
  pass left out), the same loop on float32 pixels (`train_speed.py`'s lecture
  row), and a floor: the 14 matrix products of one batch-32 step of the
  lecture's MLP and a plain SGD update, 60,000 / 32 dependent steps in one
  graph `tf.while_loop`, without and with XLA: how fast the hardware runs the
  arithmetic with nothing else in the way.
- **Peak memory** (the kernel's `ru_maxrss` of each `train` process, as
  `/usr/bin/time -f %M` reports it), also at `--memory_rows` rows.

When the run folder holds `timings.json`, the digits run's phases are listed.

    python benchmarks/command_speed.py                   # 60,000 rows, 3 rounds
    python benchmarks/command_speed.py --rounds=5 --memory_rows=240000
    python benchmarks/command_speed.py --quick           # a smoke run
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Before any child's environment is copied from this one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # Run from a clone without installing.

from lecture_model import BATCH_SIZE, LEARNING_RATE, LectureLoop  # noqa: E402
from machine_info import machine  # noqa: E402
from mnist_shaped import load_data, write_npz  # noqa: E402

_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 60_000, "Training rows of the steady-epoch runs.", lower_bound=256)
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Times every measurement runs, in turn.", lower_bound=1)
_MEMORY_ROWS = flags.DEFINE_list("memory_rows", [], "More row counts whose 1-epoch `train` peak memory is measured.")
_QUICK = flags.DEFINE_boolean("quick", False, "Smoke run: 2,048 rows, 1 round, a 2-trial 1-epoch search.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the data.")
_CHILD = flags.DEFINE_string("child", None, "Internal: run the loops of this process ('loops:<npz>:<epochs>') and print JSON.")

HIDDEN_UNITS = (32, 64, 128, 256)  # The lecture's MLP, for the floor's hand-written steps.
COMMAND = [sys.executable, "-m", "keras_minibatch"]  # The `keras-minibatch` script, whichever Python runs this.
# The command of this checkout, even where another one is installed.
CHILD_ENVIRONMENT = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}


def run_process(arguments: list[str], folder: Path) -> dict:
    """Runs one process to its end: wall seconds and peak RSS (MiB); raises with its stderr when it fails."""
    out, err = folder / "stdout.txt", folder / "stderr.txt"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(arguments, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=folder, env=CHILD_ENVIRONMENT)
        _, status, usage = os.wait4(process.pid, 0)  # This child's own peak, not the largest of all children's.
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} exited {process.returncode}: {err.read_text(errors='replace')[-2000:]}")
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024, "stdout": out.read_text(errors="replace")}


def notebook_epochs(x_uint8, y, *, epochs: int, float64: bool) -> list[float]:
    """The seed notebook's loop, as written (float64 pixels) or on float32 pixels; seconds per epoch."""
    import keras

    keras.utils.set_random_seed(_SEED.value)
    x = x_uint8 / 255.0 if float64 else x_uint8.astype("float32") / 255
    loop = LectureLoop(x, y, x[:1], y[:1])
    return [loop.epoch() for _ in range(epochs)]


def floor_epochs(x_uint8, y, *, epochs: int, jit_compile: bool) -> list[float]:
    """One graph of len(y) // 32 dependent SGD steps of the lecture's MLP: 14 matmuls each, nothing else."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(_SEED.value)
    sizes = (784, *HIDDEN_UNITS, 10)
    weights = [tf.constant(rng.normal(0, (2 / fan_in) ** 0.5, (fan_in, fan_out)), tf.float32) for fan_in, fan_out in zip(sizes, sizes[1:])]
    x = tf.constant(x_uint8.reshape(len(x_uint8), -1).astype("float32") / 255)
    labels = tf.one_hot(tf.constant(y), 10)
    steps = len(y) // BATCH_SIZE

    def step(index, *weights):
        begin = index * BATCH_SIZE
        activations = [tf.slice(x, [begin, 0], [BATCH_SIZE, 784])]
        for w in weights[:-1]:
            activations.append(tf.nn.relu(activations[-1] @ w))  # 4 matmuls
        logits = activations[-1] @ weights[-1]  # 1
        delta = (tf.nn.softmax(logits) - tf.slice(labels, [begin, 0], [BATCH_SIZE, 10])) / BATCH_SIZE
        new_weights = [None] * len(weights)
        for layer in reversed(range(len(weights))):
            new_weights[layer] = weights[layer] - LEARNING_RATE * (tf.transpose(activations[layer]) @ delta)  # 5
            if layer:
                delta = (delta @ tf.transpose(weights[layer])) * tf.cast(activations[layer] > 0, tf.float32)  # 4
        return (index + 1, *new_weights)

    @tf.function(jit_compile=jit_compile)
    def epoch(*weights):
        return tf.while_loop(lambda index, *_: index < steps, step, (tf.constant(0), *weights))[1:]

    seconds = []
    for _ in range(epochs + 1):  # The first call traces and compiles.
        start = time.perf_counter()
        weights = epoch(*weights)
        weights[0].numpy()  # Waits for the graph's end.
        seconds.append(time.perf_counter() - start)
    return seconds[1:]


def run_loops(npz: str, epochs: int) -> dict:
    """Child: the baselines of the steady epoch on the rows of `npz`; steady seconds per epoch of each."""
    import numpy as np

    with np.load(npz) as arrays:
        x, y = arrays["x_train"], arrays["y_train"].astype("int64")
    return {
        "notebook_float64": statistics.median(notebook_epochs(x, y, epochs=epochs, float64=True)[1:]),
        "notebook_float32": statistics.median(notebook_epochs(x, y, epochs=epochs, float64=False)[1:]),
        "floor": statistics.median(floor_epochs(x, y, epochs=epochs - 1, jit_compile=False)),
        "floor_xla": statistics.median(floor_epochs(x, y, epochs=epochs - 1, jit_compile=True)),
    }


def measure_round(folder: Path, npz: Path, quick: bool) -> dict:
    """Every measurement once, in a fixed order; name -> `run_process` figures (or the loops' JSON)."""
    search_size = ["--max_trials=2", "--epochs=1"] if quick else ["--max_trials=6", "--epochs=5"]
    long_epochs = 2 if quick else 4
    runs = {
        "bare_import": [sys.executable, "-c", "import tensorflow, keras"],
        "digits": [*COMMAND, "train", "--dataset=digits", "--workdir=digits"],
        "search": [*COMMAND, "tune", "--dataset=digits", "--tuner=random", *search_size, "--workdir=search"],
        "train_1": [*COMMAND, "train", f"--dataset={npz}", "--epochs=1", "--workdir=train_1"],
        f"train_{long_epochs}": [*COMMAND, "train", f"--dataset={npz}", f"--epochs={long_epochs}", "--workdir=train_long"],
        "loops": [sys.executable, str(Path(__file__).resolve()), f"--child=loops:{npz}:{3 if quick else 4}", f"--seed={_SEED.value}"],
    }
    for rows in _MEMORY_ROWS.value:
        runs[f"memory_{rows}"] = [*COMMAND, "train", f"--dataset={folder.parent / f'rows-{rows}.npz'}", "--epochs=1", f"--workdir=memory_{rows}"]
    figures = {}
    for name, arguments in runs.items():
        with tempfile.TemporaryDirectory(dir=folder) as run_folder:
            figures[name] = run_process(arguments, Path(run_folder))
            timings = Path(run_folder, "digits", "timings.json")
            if name == "digits" and timings.is_file():
                figures[name]["timings"] = json.loads(timings.read_text())
        if name == "loops":
            figures[name].update(json.loads(next(line for line in figures[name]["stdout"].splitlines() if line.startswith("RESULT "))[7:]))
    return figures


def summarize(rounds: list[dict], name: str, key: str = "seconds") -> tuple[float, float]:
    """The median and the smallest of one figure over the rounds."""
    values = [figures[name][key] for figures in rounds]
    return statistics.median(values), min(values)


def format_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Aligned columns: the first to the left, the others to the right, a rule under the header."""
    cells = [header, *rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if column == 0 else cell.rjust(width) for column, (cell, width) in enumerate(zip(row, widths))).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def format_report(rounds: list[dict], *, num_samples: int, long_epochs: int, quick: bool) -> str:
    """The tables: fixed costs against the bare import, the steady epoch against the notebook's loop, memory."""
    bare, _ = summarize(rounds, "bare_import")
    search = "2 trials x 1 epoch" if quick else "6 trials x 5 epochs"
    fixed = [("python -c 'import tensorflow, keras'", *_seconds(rounds, "bare_import"), "1.00x", "")]
    for name, label, target in (("digits", "keras-minibatch train --dataset=digits", "<= 1.5x"),
                                ("search", f"keras-minibatch tune --dataset=digits --tuner=random, {search}", "<= 3.3x")):
        fixed.append((label, *_seconds(rounds, name), f"{summarize(rounds, name)[0] / bare:.2f}x", target))
    lines = [f"whole processes, {len(rounds)} round(s) in turn: median seconds (fastest)"]
    lines += format_rows(("fixed costs", "seconds", "fastest", "vs bare import", "target"), fixed)

    notebook = summarize(rounds, "loops", "notebook_float64")[0]
    float32 = summarize(rounds, "loops", "notebook_float32")[0]
    steady = statistics.median((figures[f"train_{long_epochs}"]["seconds"] - figures["train_1"]["seconds"]) / (long_epochs - 1) for figures in rounds)
    epochs = [("the notebook's loop as written (x / 255.0: float64 pixels)", notebook, ""),
              ("the same loop on float32 pixels (train_speed.py's lecture row)", float32, ""),
              (f"keras-minibatch train: ({long_epochs}-epoch run - 1-epoch run) / {long_epochs - 1}", steady, ">= 5x"),
              ("floor: 14 matmuls + SGD per step, one tf.while_loop, no XLA", summarize(rounds, "loops", "floor")[0], ""),
              ("floor: the same with XLA", summarize(rounds, "loops", "floor_xla")[0], "")]
    lines += [""] + format_rows(
        (f"steady epoch, {num_samples:,} rows", "s/epoch", "vs notebook loop", "vs float32 loop", "target"),
        [(label, f"{value:.3f}", f"{notebook / value:.2f}x", f"{float32 / value:.2f}x", target) for label, value, target in epochs],
    )

    memory = [(f"train, {num_samples:,} rows, {long_epochs} epochs", f"train_{long_epochs}"), (f"train, {num_samples:,} rows, 1 epoch", "train_1")]
    memory += [(f"train, {int(rows):,} rows, 1 epoch", f"memory_{rows}") for rows in _MEMORY_ROWS.value]
    lines += [""] + format_rows(
        ("peak RSS (ru_maxrss)", "median MiB", "per round", "target"),
        [(label, f"{summarize(rounds, name, 'peak_rss_mib')[0]:,.0f}", " ".join(f"{figures[name]['peak_rss_mib']:,.0f}" for figures in rounds),
          "<= 922 at 60,000 rows") for label, name in memory],
    )
    phases = [figures["digits"]["timings"] for figures in rounds if isinstance(figures["digits"].get("timings"), dict)]
    if phases:
        rows = []
        for phase in (name for name in phases[0] if name != "epochs"):  # a count, not seconds
            values = [timings[phase] for timings in phases if isinstance(timings.get(phase), (int, float))]
            if values:
                rows.append((phase, f"{statistics.median(values):.3f}"))
        lines += [""] + format_rows(("keras-minibatch train --dataset=digits: timings.json", "seconds (median)"), rows)
    return "\n".join(lines)


def _seconds(rounds: list[dict], name: str) -> tuple[str, str]:
    median, fastest = summarize(rounds, name)
    return f"{median:.2f}", f"{fastest:.2f}"


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if _CHILD.value:
        _, npz, epochs = _CHILD.value.rsplit(":", 2)
        print("RESULT " + json.dumps(run_loops(npz, int(epochs))))
        return 0
    quick = _QUICK.value
    num_samples = 2048 if quick and flags.FLAGS["num_samples"].using_default_value else _NUM_SAMPLES.value
    rounds = 1 if quick and flags.FLAGS["rounds"].using_default_value else _ROUNDS.value
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        npz = write_npz(load_data(num_samples, _SEED.value), folder)
        (folder / "runs").mkdir()
        for rows in _MEMORY_ROWS.value:
            write_npz(load_data(int(rows), _SEED.value), folder / "runs").rename(folder / f"rows-{rows}.npz")
        measured = []
        for index in range(rounds):
            measured.append(measure_round(folder / "runs", npz, quick))
            print(f"[round {index + 1}/{rounds} done]", file=sys.stderr, flush=True)
    print(format_report(measured, num_samples=num_samples, long_epochs=2 if quick else 4, quick=quick))
    from keras_minibatch.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # machine() imports TensorFlow: without its start-up chatter on stderr.
    print(machine())
    return 0


if __name__ == "__main__":
    app.run(main)
