"""Seconds per epoch of the lecture's MLP at batch 32: the lecture's own loop vs `fit` settings.

Every configuration trains its own copy of the lecture's MLP (same seed, same
rows) in this one process, one epoch each in turn, so a slow spell on a shared
machine hits all of them alike; the table shows the median epoch after the
first (which traces and compiles), the ratio to the lecture's loop measured the
same way, and the test accuracy after the last epoch. Levers that only take
effect at start-up (thread pools, oneDNN, the Keras backend) run in a fresh
process each, beside their own lecture loop; start-up time and peak memory are
measured in a fresh process per configuration so peaks do not mix.

Data: the 10,000 real images of `../shared/data/mnist-t10k` (2,000 held out for
testing, the rest tiled up to `--num_samples`), or synthetic MNIST-shaped
digits (class templates plus noise) when that folder is absent.

    python benchmarks/train_speed.py                  # 60,000 samples, 5 epochs
    python benchmarks/train_speed.py --quick          # a smoke run, seconds
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from absl import app, flags, logging

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # Run from a clone without installing.

from keras_minibatch.config import TrainConfig  # Standard library only: TensorFlow is not imported yet.
from machine_info import machine
from lecture_model import BATCH_SIZE, LEARNING_RATE, LectureLoop, build_model
from mnist_shaped import load_data, write_npz

_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 60_000, "Training rows per epoch.", lower_bound=64)
_EPOCHS = flags.DEFINE_integer("epochs", 5, "Epochs per configuration; the first is a warm-up.", lower_bound=2)
_QUICK = flags.DEFINE_boolean("quick", False, "Smoke run: 1,024 rows, 2 epochs, fewer configurations.")
_SUBPROCESSES = flags.DEFINE_boolean("subprocesses", True, "Also measure levers, start-up and peak memory in fresh processes.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the data, the initial weights and the shuffling.")
_CHILD = flags.DEFINE_string("child", None, "Internal: run one fresh-process measurement and print JSON.")
_LAUNCHED_AT = flags.DEFINE_float("launched_at", None, "Internal: time.time() when the parent started this child.")

FUSED_STEPS = TrainConfig().steps_per_execution  # Updates per compiled call of `train`'s default.
FUSED_ROWS = sorted({64, 128, 512, FUSED_STEPS})  # Fused XLA uint8 rows: how the call's size moves the epoch.
WINNER = "fused"  # The configuration proposed as the default of `train`.


class FitConfiguration:
    """`model.fit` for one epoch per call, timed from `on_epoch_begin` to `on_epoch_end`."""

    def __init__(self, data, *, uint8=False, jit_compile=False, steps_per_execution=1, fused_steps=1, pipeline="numpy"):
        import keras

        from keras_minibatch.training.fused_steps import fuse_train_steps

        self.uint8 = uint8
        self.model = build_model(uint8=uint8, jit_compile=jit_compile, steps_per_execution=steps_per_execution)
        self.batch_size = fuse_train_steps(self.model, batch_size=BATCH_SIZE, steps_per_execution=fused_steps)
        self.x, self.y = data.x_uint8 if uint8 else data.x_float32, data.y
        self.x_test = data.x_test_uint8 if uint8 else data.x_test_float32
        self.y_test = data.y_test
        if pipeline == "tf.data":  # Tensors built once and cached; reshuffled every epoch.
            import tensorflow as tf

            self.data = (tf.data.Dataset.from_tensor_slices((self.x, self.y)).cache()
                         .shuffle(len(self.y), seed=_SEED.value).batch(self.batch_size).prefetch(tf.data.AUTOTUNE))
        else:
            self.data = None

        class EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds = time.perf_counter() - self.start

        self.timer = EpochTimer()

    def epoch(self) -> float:
        if self.data is not None:
            self.model.fit(self.data, epochs=1, shuffle=False, verbose=0, callbacks=[self.timer])  # The dataset shuffles.
        else:
            self.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=1, shuffle=True, verbose=0, callbacks=[self.timer])
        return self.timer.seconds

    def test_accuracy(self) -> float:
        return float(self.model.evaluate(self.x_test, self.y_test, batch_size=1024, verbose=0, return_dict=True)["accuracy"])


def configurations(quick: bool) -> dict[str, tuple[str, dict]]:
    """Name -> (description, `FitConfiguration` arguments); `None` arguments mean the lecture loop."""
    table = {
        "lecture": ("lecture loop: tf.function GradientTape step, tf.data shuffle(1024).batch(32)", None),
        "fit": ("fit, defaults (float32 numpy)", {}),
        "fit_uint8": ("fit, defaults, uint8 pixels until a Rescaling layer", {"uint8": True}),
    }
    for steps in (32,) if quick else (32, 64, 128):
        table[f"spe{steps}"] = (f"fit, compile(steps_per_execution={steps})", {"steps_per_execution": steps})
    table.update({
        "spe128_jit": ("fit, steps_per_execution=128, jit_compile=True", {"steps_per_execution": 128, "jit_compile": True}),
        "spe128_tfdata": ("fit, steps_per_execution=128, tf.data from_tensor_slices+cache+prefetch",
                          {"steps_per_execution": 128, "pipeline": "tf.data"}),
        "fused_nojit": (f"fit, {FUSED_STEPS} fused updates per call (fused_steps), no XLA", {"fused_steps": FUSED_STEPS}),
        "fused_float32": (f"fit, {FUSED_STEPS} fused updates per call, jit_compile=True, float32",
                          {"fused_steps": FUSED_STEPS, "jit_compile": True}),
    })
    # Fewer, longer calls: a call's fixed cost (XLA launch, tf.data hand-off, callbacks)
    # is spread over more updates; each call's batch is held in memory a few times over.
    for steps in FUSED_ROWS:
        name = WINNER if steps == FUSED_STEPS else f"fused{steps}"
        note = " (proposed default)" if steps == FUSED_STEPS else ""
        table[name] = (f"fit, {steps} fused updates per call, jit_compile=True, uint8{note}",
                       {"fused_steps": steps, "jit_compile": True, "uint8": True})
    if quick:
        # A smoke run keeps the baseline, plain `fit`, the proposed default and (below) the `train` row.
        for name in [name for name in table if name not in ("lecture", "fit", WINNER)]:
            del table[name]
    return table


def measure_train(source: Path, epochs: int, after_each_epoch: Callable[[], None] | None = None) -> dict:
    """Runs `keras-minibatch train`'s library call with its current defaults on the same rows.

    Its epochs include validating 10% of the rows (held out, so it fits on 90%)
    and all its callbacks; `s/epoch` is the epoch time `train` logs, which ends
    before its per-epoch checkpoint (handed to a background writer) and
    TensorBoard writes, so those are timed too (`whole epoch`). The test split
    is the same held-out images.
    `after_each_epoch()` runs after every epoch, outside both clocks: `measure`
    trains the other configurations there, so this row is interleaved with them.
    """
    import keras

    from keras_minibatch import train_and_evaluate

    whole_epochs = []

    class AfterTrainsEpoch(keras.callbacks.Callback):
        """After all of train's callbacks (extra callbacks come last): its whole epoch's end."""

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            whole_epochs.append(time.perf_counter() - self.start)
            if after_each_epoch is not None:
                after_each_epoch()

    config = TrainConfig(dataset=str(source), epochs=epochs, seed=_SEED.value)
    with tempfile.TemporaryDirectory() as folder:
        result = train_and_evaluate(config, Path(folder, "run"), verbose=0, extra_callbacks=[AfterTrainsEpoch()])
        rows = [json.loads(line) for line in Path(folder, "run", "epochs.jsonl").read_text().splitlines() if line.strip()]
    seconds = [row["epoch_seconds"] for row in rows]
    changed = {key: value for key, value in config.to_dict().items() if key in ("steps_per_execution", "jit_compile")}
    return {
        "description": "keras-minibatch train, its defaults (" + ", ".join(f"{k}={v}" for k, v in changed.items())
        + f"; 90% fit + 10% validation rows; whole epoch with checkpoint and TensorBoard writes "
        f"{statistics.median(whole_epochs[1:]):.3f} s)",
        "first_epoch": seconds[0], "median": statistics.median(seconds[1:]), "epochs": seconds,
        "test_accuracy": result.test_metrics["test_accuracy"],
    }


def make_configuration(arguments: dict | None, data):
    import keras

    keras.utils.set_random_seed(_SEED.value)  # The same initial weights for every configuration.
    return LectureLoop(data.x_float32, data.y, data.x_test_float32, data.y_test) if arguments is None else FitConfiguration(data, **arguments)


def measure(table: dict[str, tuple[str, dict]], data, epochs: int, train_source: Path | None = None) -> dict[str, dict]:
    """Trains every configuration one epoch at a time, in turn; returns name -> figures.

    With `train_source`, the `keras-minibatch train` row (name `"train"`) runs
    too, and drives the turns: after each of its epochs every configuration
    trains one epoch.
    """
    runs = {name: make_configuration(arguments, data) for name, (_, arguments) in table.items()}
    seconds = {name: [] for name in runs}

    def one_turn():
        for name, run in runs.items():
            seconds[name].append(run.epoch())

    figures = {}
    if train_source is None:
        for _ in range(epochs):
            one_turn()
    else:
        figures["train"] = measure_train(train_source, epochs, after_each_epoch=one_turn)
    for name, run in runs.items():
        figures[name] = {"first_epoch": seconds[name][0], "median": statistics.median(seconds[name][1:]),
                         "epochs": seconds[name], "test_accuracy": run.test_accuracy()}
    return figures


# Fresh-process levers: name -> (description, environment, thread settings, configurations run).
LEVERS = {
    "threads_1": ("proposed default, intra_op=1, inter_op=1 threads", {}, (1, 1), ("lecture", WINNER)),
    "onednn_off": ("proposed default, TF_ENABLE_ONEDNN_OPTS=0", {"TF_ENABLE_ONEDNN_OPTS": "0"}, None, ("lecture", WINNER)),
    "jax": (f"JAX backend: fit, compile(steps_per_execution={FUSED_STEPS}), XLA, uint8 (own process)",
            {"KERAS_BACKEND": "jax"}, None, ("jax",)),
}
STARTUP = ("fit", "fit_uint8", "fused_float32", WINNER)  # Configurations whose start-up and peak memory are measured.


def run_lever(name: str) -> dict:
    """Child: one lever in this fresh process, beside its own lecture loop."""
    _, _, threads, names = LEVERS[name]
    import keras  # noqa: F401  (imports TensorFlow unless KERAS_BACKEND says otherwise)

    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(threads[1])
    table = configurations(_QUICK.value)
    table["jax"] = ("", {"steps_per_execution": FUSED_STEPS, "jit_compile": True, "uint8": True})
    data = load_data(_NUM_SAMPLES.value, _SEED.value)
    return measure({key: table[key] for key in names}, data, _EPOCHS.value)


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB.

    Linux' `VmHWM` is the high-water mark of this program's own memory. `ru_maxrss`
    (the fallback elsewhere) carries over the parent's peak across fork and exec,
    so a child started by a big parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as stream:
            return next(int(line.split()[1]) for line in stream if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def first_step_clock(started: float):
    """A callback recording the seconds from `started` (process launch) to the first step's end."""
    import keras

    class FirstStep(keras.callbacks.Callback):
        seconds = None

        def on_train_batch_end(self, batch, logs=None):
            if self.seconds is None:
                self.seconds = time.time() - started

    return FirstStep()


def run_startup(name: str) -> dict:
    """Child: import, build and fit one epoch holding out 10% for validation; first step and peak memory."""
    started = _LAUNCHED_AT.value or time.time()
    begin = time.perf_counter()
    import keras
    import tensorflow  # noqa: F401

    from keras_minibatch.training.fused_steps import fuse_train_steps

    imported = time.perf_counter() - begin
    rss_after_import = peak_rss_mib()
    arguments = configurations(_QUICK.value)[name][1]
    uint8 = arguments.get("uint8", False)
    data = load_data(_NUM_SAMPLES.value, _SEED.value)
    x, y = (data.x_uint8 if uint8 else data.x_float32), data.y
    del data  # As after `load_dataset`: only the training arrays stay.
    keras.utils.set_random_seed(_SEED.value)
    model = build_model(uint8=uint8, jit_compile=arguments.get("jit_compile", False))
    batch_size = fuse_train_steps(model, batch_size=BATCH_SIZE, steps_per_execution=arguments.get("fused_steps", 1))
    clock = first_step_clock(started)
    model.fit(x, y, batch_size=batch_size, epochs=1, validation_split=0.1, shuffle=True, verbose=0, callbacks=[clock])
    return {
        "import_seconds": imported,
        "rss_after_import_mib": rss_after_import,
        "first_step_seconds": clock.seconds,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_train_startup(source: str) -> dict:
    """Child: the whole `train` command's work for one epoch, from a fresh process.

    Loading the `.npz`, the validation split, `fit` with all of `train`'s
    callbacks, the one test evaluation, predictions for the confusion matrix,
    saving the model and the plots: the peak memory a user of `train` meets.
    """
    started = _LAUNCHED_AT.value or time.time()
    begin = time.perf_counter()
    from keras_minibatch.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # As the command imports them: Keras without its optional extras.
    from keras_minibatch import TrainConfig, train_and_evaluate

    imported = time.perf_counter() - begin
    clock = first_step_clock(started)
    with tempfile.TemporaryDirectory() as folder:
        train_and_evaluate(TrainConfig(dataset=source, epochs=1, seed=_SEED.value), Path(folder, "run"), verbose=0, extra_callbacks=[clock])
    return {"import_seconds": imported, "first_step_seconds": clock.seconds, "peak_rss_mib": peak_rss_mib()}


def run_child(kind: str, name: str, environment: dict[str, str]) -> dict | None:
    """Runs `--child=kind:name` in a fresh interpreter; returns its JSON, or `None` when it failed."""
    arguments = [sys.executable, str(Path(__file__).resolve()), f"--child={kind}:{name}", f"--launched_at={time.time()}",
                 f"--num_samples={_NUM_SAMPLES.value}", f"--epochs={_EPOCHS.value}", f"--seed={_SEED.value}",
                 f"--quick={_QUICK.value}"]
    completed = subprocess.run(arguments, capture_output=True, text=True, env={**os.environ, **environment}, timeout=900)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    if completed.returncode != 0 or not lines:
        print(f"[{kind}:{name} failed with exit code {completed.returncode}: {completed.stderr.strip()[-500:]}]", file=sys.stderr)
        return None
    return json.loads(lines[-1].removeprefix("RESULT "))


def format_table(rows: list[dict], epochs: int) -> str:
    header = ("configuration", "s/epoch", "first epoch s", "vs lecture", f"test acc ({epochs} ep)",
              "import s", "first step s", "peak RSS MiB")
    cells = [header]
    for row in rows:
        optional = [f"{row[key]:.2f}" if key in row else "-" for key in ("import_seconds", "first_step_seconds")]
        cells.append((
            row["description"], f"{row['median']:.3f}", f"{row['first_epoch']:.2f}",
            f"{row['speedup']:.2f}x{' *' if row.get('cross_process') else ''}", f"{row['test_accuracy']:.4f}",
            *optional, f"{row['peak_rss_mib']:,.0f}" if "peak_rss_mib" in row else "-",
        ))
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                       for column, (cell, width) in enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.set_verbosity(logging.ERROR)  # tf.function's retracing notes: many models trace here by design.
    if _QUICK.value:
        for flag, value in (("num_samples", 1024), ("epochs", 2)):
            if flags.FLAGS[flag].using_default_value:
                flags.FLAGS[flag].value = value
    if _CHILD.value:
        kind, name = _CHILD.value.split(":", 1)
        child = {"lever": run_lever, "startup": run_startup, "train": run_train_startup}[kind]
        result = child(name)
        print("RESULT " + json.dumps(result))
        return 0

    table = configurations(_QUICK.value)
    # Start-up and memory children first, while this process is still small.
    startup = {}
    if _SUBPROCESSES.value:
        for name in (WINNER,) if _QUICK.value else STARTUP:
            startup[name] = run_child("startup", name, {}) or {}
    data = load_data(_NUM_SAMPLES.value, _SEED.value)
    print(f"data: {data.source}; batch {BATCH_SIZE}, Adam {LEARNING_RATE}; {_EPOCHS.value} epochs per configuration, "
          "in turn; s/epoch: median after the first", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        source = write_npz(data, folder)
        results = measure(table, data, _EPOCHS.value, train_source=source)
        if _SUBPROCESSES.value:  # The command's own start-up and peak memory, fresh process.
            results["train"].update(run_child("train", str(source), {}) or {})
    lecture = results["lecture"]["median"]
    rows = [{"name": name, "description": table[name][0], **results[name], **startup.get(name, {}),
             "speedup": lecture / results[name]["median"]} for name in table]
    rows.append({"name": "train", **results["train"], "speedup": lecture / results["train"]["median"]})
    if _SUBPROCESSES.value:
        import importlib.util

        # A smoke run (--quick) starts one lever child.
        for name in ["threads_1"] if _QUICK.value else list(LEVERS):
            description, environment, _, _ = LEVERS[name]
            if name == "jax" and importlib.util.find_spec("jax") is None:
                print("[jax: not installed here; `pip install jax` to measure the JAX backend]", file=sys.stderr)
                continue
            child = run_child("lever", name, environment)
            if child is None:
                continue
            candidate = child[WINNER] if WINNER in child else child["jax"]
            baseline = child["lecture"]["median"] if "lecture" in child else lecture
            rows.append({"name": name, "description": description, **candidate,
                         "speedup": baseline / candidate["median"], "cross_process": "lecture" not in child})
    print(format_table(rows, _EPOCHS.value))
    # A busy spell on a shared machine only ever adds time: the fastest epochs check the medians.
    fastest = {name: min(results[name]["epochs"][1:]) for name in ("lecture", "train")}
    print(f"fastest epochs after the first: lecture loop {fastest['lecture']:.3f} s, keras-minibatch train "
          f"{fastest['train']:.3f} s: {fastest['lecture'] / fastest['train']:.2f}x")
    print("vs lecture: the lecture loop's median s/epoch over this row's, both measured in the same process "
          "(* the lecture loop of the main process). import s, first step s (from process launch) and peak RSS: "
          "a fresh process importing TensorFlow as a script does and fitting one epoch with validation_split=0.1; "
          "for the `keras-minibatch train` row, a fresh process importing TensorFlow as the command does (without "
          "Keras' optional scikit-learn and pyplot) and doing all of train's work for one epoch.")
    print(machine())
    return 0


if __name__ == "__main__":
    app.run(main)
