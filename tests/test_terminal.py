"""What a person sees: the CLI in a real pseudo-terminal, read back through a terminal emulator (pyte).

The command runs with a pty as its stdin, stdout and stderr, sized 100x30 as a
window would be; everything it writes is fed to `pyte`. `frames` are the states
of the line being drawn (read after each carriage return), `rows` what the
screen and its scrollback show at the end. Also: the choice between the live
line and plain lines, and the header's layout.
"""

import fcntl
import math
import os
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pyte
import pytest
from absl.testing import flagsaver

COLUMNS, LINES = 100, 30
BAR_COUNT = re.compile(r"(\d+)/(\d+) updates")


def tiny_npz(path, rows, *, seed=0):
    """Writes `rows` MNIST-shaped random images of 10 classes (and 100 test rows) to an `.npz`."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(rows + 100, 28, 28), dtype=np.uint8)
    y = np.arange(rows + 100) % 10
    np.savez(path, x_train=x[:rows], y_train=y[:rows], x_test=x[rows:], y_test=y[rows:])
    return path


def run_in_terminal(*args, env_extra=None, timeout=300):
    """Runs the CLI on a pty of COLUMNS x LINES; returns (exit code, frames, rows, printed).

    `printed` holds the lines as written, before the terminal wraps any (a live
    line's frames left out): the screen cannot tell a wrapped line from two.
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES", "NO_COLOR")}
    env.update({"TERM": "xterm-256color", **(env_extra or {})})
    # No preexec_fn: gRPC in this process makes forked children abort; a new session needs none.
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_minibatch", *args], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
    )
    os.close(slave)
    screen = pyte.HistoryScreen(COLUMNS, LINES, history=10_000)
    stream = pyte.ByteStream(screen)
    frames, written, deadline = [], [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not data:
                break
            written.append(data)
            for piece in re.split(rb"(?=\r)", data):  # every state of the line, not only the last of a read
                stream.feed(piece)
                frames.append(row_text(screen.buffer[screen.cursor.y]))
    finally:
        os.close(master)
        process.kill() if process.poll() is None else None
    code = process.wait(timeout=30)
    rows = [row_text(line) for line in screen.history.top] + [row_text(screen.buffer[y]) for y in range(LINES)]
    text = b"".join(written).decode()
    printed = [line.rpartition("\x1b[K")[2].strip("\r") for line in text.split("\n")]
    return code, frames, [row for row in rows if row], printed


def row_text(line):
    return "".join(line[x].data for x in range(COLUMNS)).rstrip()


def check_screen(rows, frames, printed, *, epochs, updates):
    """The checks of issue 19 on what the terminal showed."""
    bars = [frame for frame in frames if BAR_COUNT.search(frame)]
    assert bars, frames
    assert {BAR_COUNT.search(frame).group(2) for frame in bars} == {str(updates)}
    assert f"{updates}/{updates} updates" in "\n".join(bars)
    header = printed[:next(index for index, line in enumerate(printed) if line.startswith("epoch "))]
    assert "hyperparameters:" in header and max(len(line) for line in header) < COLUMNS  # none wrapped by the terminal
    assert not [row for row in rows if "updates" in row or "[=" in row]  # the live line left nothing behind
    summaries = [row for row in rows if re.match(r"epoch \d+/\d+  ", row)]
    assert [row.split("  ")[0] for row in summaries] == [f"epoch {epoch}/{epochs}" for epoch in range(1, epochs + 1)]
    assert all("val_loss" in row for row in summaries)


@pytest.mark.integration
def test_train_in_a_terminal_shows_one_live_line_and_one_summary_per_epoch(tmp_path):
    data = tiny_npz(tmp_path / "tiny.npz", 400)
    workdir = tmp_path / "a-run-folder-whose-name-is-long-enough-to-need-a-second-line-of-the-header" / "run"
    code, frames, rows, printed = run_in_terminal(
        "train", f"--dataset={data}", "--epochs=3", "--hidden_units=16", "--batch_size=8", "--steps_per_execution=16", f"--workdir={workdir}",
    )
    assert code == 0, "\n".join(rows)
    check_screen(rows, frames, printed, epochs=3, updates=math.ceil(360 / 8))  # 360 fit rows: 45 updates in 3 fused calls
    assert any(row.startswith("test:  accuracy") for row in rows)


@pytest.mark.integration
def test_tune_in_a_terminal_replaces_each_trials_live_line_by_its_summary(tmp_path):
    data = tiny_npz(tmp_path / "tiny.npz", 200)
    code, frames, rows, printed = run_in_terminal(
        "tune", f"--dataset={data}", "--epochs=2", "--max_trials=2", "--hidden_units=8", "--fix=num_layers=1,units=8,batch_size=16",
        f"--workdir={tmp_path / 'search'}",
    )
    assert code == 0, "\n".join(rows)
    live = [frame for frame in frames if frame.startswith("trial ") and BAR_COUNT.search(frame)]
    assert {frame.split("  ")[0] for frame in live} >= {"trial 1/2", "trial 2/2"}
    assert {BAR_COUNT.search(frame).group(2) for frame in live} == {str(math.ceil(180 / 16))}
    trial_rows = [row for row in rows if re.match(r"trial \d/2  ", row)]
    assert [row.split("  ")[0] for row in trial_rows] == ["trial 1/2", "trial 2/2"]
    assert "left in search" in trial_rows[0]
    assert not [row for row in rows if "updates" in row]
    assert max(len(line) for line in printed if not line.startswith(("search folder:", "test:"))) < COLUMNS


@pytest.mark.integration
def test_sixty_thousand_rows_count_every_update_of_batch_32(tmp_path):
    # The check: MNIST-sized data at the defaults, 1688 updates of batch 32 in 7 fused calls.
    data = tiny_npz(tmp_path / "mnist-sized.npz", 60_000)
    code, frames, rows, printed = run_in_terminal("train", f"--dataset={data}", "--epochs=1", f"--workdir={tmp_path / 'run'}")
    assert code == 0, "\n".join(rows)
    check_screen(rows, frames, printed, epochs=1, updates=math.ceil(54_000 / 32))
    assert any(row.startswith("steps/epoch: 1688 (batch_size 32)") for row in rows)


@pytest.mark.parametrize(
    ("progress", "is_terminal", "env", "expected"),
    [
        ("auto", True, {}, True),
        ("auto", False, {}, False),
        ("auto", True, {"NO_COLOR": ""}, True),  # no-color.org: an empty NO_COLOR asks for nothing
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("auto", True, {"TERM": "dumb"}, False),
        ("lines", True, {}, False),
        ("bar", False, {}, True),
        ("bar", True, {"TERM": "dumb"}, True),
    ],
)
def test_live_line_or_plain_lines_is_decided_in_one_place(monkeypatch, progress, is_terminal, env, expected):
    from keras_minibatch.cli import flags as cli_flags
    from keras_minibatch.cli import terminal

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdout", type("Stdout", (), {"isatty": lambda self: is_terminal})())

    with flagsaver.flagsaver((cli_flags.PROGRESS, progress)):
        assert terminal.show_progress_bar() is expected


def test_every_training_setting_is_in_exactly_one_header_group():
    from keras_minibatch.config import TrainConfig
    from keras_minibatch.training.report import HYPERPARAMETER_GROUPS

    grouped = [key for keys in HYPERPARAMETER_GROUPS.values() for key in keys]

    assert sorted(grouped) == sorted(TrainConfig().to_dict())
    assert list(HYPERPARAMETER_GROUPS) == ["data", "model", "optimizer", "schedule", "speed"]


@pytest.mark.parametrize("width", [60, 80, 100])
def test_no_header_line_is_wider_than_the_terminal(width):
    import types

    from keras_minibatch.config import TrainConfig
    from keras_minibatch.training.report import format_run_header

    labels = np.arange(60_000) % 10
    dataset = types.SimpleNamespace(
        source="/data/" + "a-folder-with-a-long-name/" * 6 + "mnist.npz", input_shape=(28, 28), num_classes=10,
        y_test=labels[:10_000], test_split_carved=True,
    )
    config = TrainConfig(callbacks=("my_callbacks:Spy()",))

    header = format_run_header(
        config, dataset, y_fit=labels[:54_000], y_validation=labels[:6_000], steps_per_epoch=1688,
        trainable_params=55_050, non_trainable_params=0, workdir=Path("/runs") / ("x" * 150), width=width,
    )

    lines = header.splitlines()
    assert max(len(line) for line in lines) <= width
    text = " ".join(line.strip() for line in lines)
    for key, value in config.to_dict().items():
        shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        assert f"{key}={shown}" in text.replace("/ ", "/")
    assert "hyperparameters:" in lines and any(line.startswith("  speed:     steps_per_execution=256  jit_compile=auto") for line in lines)


@pytest.mark.parametrize(
    ("parts", "width", "expected"),
    [
        (["ab", "cd", "ef"], 6, ["ab  cd", "  ef"]),
        (["abc", "", "de"], 5, ["abc", "  de"]),  # a double space where the line breaks
        (["/data/some/long/path.npz"], 12, ["x: /data/", "  some/long/", "  path.npz"]),
        (["abcdefghij"], 6, ["x: abc", "  defg", "  hij"]),
    ],
)
def test_pack_lines_breaks_between_parts_and_cuts_only_what_no_line_holds(parts, width, expected):
    from callbacks.terminal_lines import pack_lines

    first = "x: " if len(parts) == 1 else ""
    assert pack_lines(parts, width, first=first, indent="  ", separator=" " if "" in parts else "  ") == expected


def test_a_header_in_a_pipe_fits_80_columns(monkeypatch):
    from keras_minibatch.training.report import format_block

    monkeypatch.delenv("COLUMNS", raising=False)  # stdout under pytest is no terminal: the fallback
    block = format_block([("search:", "word " * 60)])

    assert max(len(line) for line in block.splitlines()) < 80 and len(block.splitlines()) > 1


def test_train_and_evaluate_counts_the_updates_whatever_steps_per_execution_fuses(tmp_path, capsys, monkeypatch):
    from keras_minibatch import TrainConfig, train_and_evaluate

    monkeypatch.setenv("COLUMNS", str(COLUMNS))
    config = TrainConfig(dataset="digits", max_train_samples=200, epochs=2, hidden_units=(8,), batch_size=8, steps_per_execution=4)

    train_and_evaluate(config, tmp_path, progress_bar=True, print_fn=lambda line: None)
    out = capsys.readouterr().out

    # 180 fit rows: 23 updates of batch 8, which fit() gets in 6 calls of 4 updates (the last of 2).
    assert set(BAR_COUNT.findall(out)) >= {("0", "23"), ("23", "23")} and {total for _, total in BAR_COUNT.findall(out)} == {"23"}
    assert "\u2501" not in out and "/step" not in out  # Keras' own bar stays off
    screen = pyte.Screen(COLUMNS, LINES)
    pyte.Stream(screen).feed(out.replace("\n", "\r\n"))
    rows = [row.rstrip() for row in screen.display if row.strip()]
    assert [row.split("  ")[0] for row in rows if row.startswith("epoch ")] == ["epoch 1/2", "epoch 2/2"]
    assert not [row for row in rows if "updates" in row]


def test_a_trials_line_wraps_between_values_and_says_the_time_left():
    from keras_minibatch.tuning.trial_table import format_trial_line

    row = {"number": 2, "status": "COMPLETED", "objective": 0.93, "epochs": 10, "seconds": 61.0, "failure": None,
           "hyperparameters": {"num_layers": 2, "units_1": 64, "units_2": 32, "activation": "relu", "learning_rate": 0.00123}}

    line = format_trial_line(row, max_trials=10, objective="val_accuracy", best=0.95, seconds_left=8 * 61.0, width=64)

    assert line.splitlines() == [
        "trial 2/10  val_accuracy 0.9300  best 0.9500  epochs 10  61.0s",
        "            ~8:08 left in search  num_layers=2 units=64,32",
        "            activation=relu learning_rate=0.00123",
    ]
    assert "\n" not in format_trial_line(row, max_trials=10, objective="val_accuracy", seconds_left=1.0)  # a pipe: one line


@pytest.mark.parametrize(
    ("statuses", "seconds", "expected"),
    [
        (["COMPLETED", "FAILED", "RUNNING"], [10.0, 20.0, None], 15.0 * 8),  # the running trial is left to do
        (["COMPLETED"] * 10, [1.0] * 10, None),  # nothing left
        (["COMPLETED"], [None], None),  # nothing timed (a trial of an earlier run without its time)
    ],
)
def test_the_searchs_time_left_is_the_mean_trial_time_times_the_trials_left(statuses, seconds, expected):
    from keras_minibatch.tuning.trial_recorder import _seconds_left

    rows = [{"status": status, "seconds": time_taken} for status, time_taken in zip(statuses, seconds)]

    assert _seconds_left(rows, max_trials=10) == expected


def test_the_trials_table_wraps_the_hyperparameters_under_their_column():
    from keras_minibatch.tuning.trial_table import format_trials_table

    row = {"trial_id": "0", "number": 1, "status": "COMPLETED", "objective": 0.5, "best_epoch": 1, "seconds": 1.0, "failure": None,
           "metrics": {}, "hyperparameters": {"num_layers": 2, "units_1": 8, "units_2": 16, "activation": "relu", "optimizer": "adam"}}

    lines = format_trials_table([row], "val_accuracy", width=80).splitlines()

    column = lines[0].index("hyperparameters")
    assert lines[1][column:] == "num_layers=2 units=8,16"
    assert lines[2] == " " * column + "activation=relu optimizer=adam"
    assert max(len(line) for line in lines) <= 80
