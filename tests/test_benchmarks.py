"""benchmarks/train_speed.py runs at a tiny size (--quick) and prints its table; nothing is timed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TRAIN_SPEED = Path(__file__).resolve().parents[1] / "benchmarks" / "train_speed.py"


def run_quick(script: Path) -> list[str]:
    completed = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout.splitlines()


@pytest.mark.integration
def test_train_speed_prints_one_table_with_the_lecture_loop_as_baseline():
    lines = run_quick(TRAIN_SPEED)
    header = next(index for index, line in enumerate(lines) if line.startswith("configuration"))
    rows = lines[header + 2:]
    lecture = next(line for line in rows if line.startswith("lecture loop"))
    assert " 1.00x " in lecture
    proposed = next(line for line in rows if "(proposed default)" in line)
    assert not proposed.rstrip().endswith("-")  # Its start-up and peak memory were measured in a child.
    assert any(line.startswith("proposed default, intra_op=1") for line in rows)  # A lever child ran.
    train = next(line for line in rows if line.startswith("keras-minibatch train, its defaults"))
    assert not train.rstrip().endswith("-")  # The command's own start-up and peak memory too.
    assert any(line.startswith("fastest epochs after the first: lecture loop ") and line.endswith("x") for line in lines)
    assert any(line.startswith("machine: ") and "cores" in line for line in lines)


COMMAND_SPEED = TRAIN_SPEED.parent / "command_speed.py"


@pytest.mark.integration
def test_command_speed_prints_the_commands_beside_their_baselines():
    lines = run_quick(COMMAND_SPEED)
    text = "\n".join(lines)
    bare = next(line for line in lines if line.startswith("python -c 'import tensorflow, keras'"))
    assert bare.split()[-1] == "1.00x"
    for label, target in (("keras-minibatch train --dataset=digits", "<= 1.5x"), ("keras-minibatch tune --dataset=digits", "<= 3.3x")):
        row = next(line for line in lines if line.startswith(label))
        assert row.endswith(target) and row.split()[-3].endswith("x")
    notebook = next(line for line in lines if line.startswith("the notebook's loop as written"))
    assert notebook.split()[-2] == "1.00x"  # The baseline; the float32 loop's ratio follows.
    for label in ("keras-minibatch train: (2-epoch run - 1-epoch run)", "floor: 14 matmuls", "floor: the same with XLA"):
        assert any(line.startswith(label) for line in lines), text
    memory = next(line for line in lines if line.startswith("train, 2,048 rows, 2 epochs"))
    assert float(memory.removeprefix("train, 2,048 rows, 2 epochs").split()[0].replace(",", "")) > 100  # MiB: TensorFlow was imported
    assert lines[-1].startswith("machine: ") and "cores" in lines[-1]
