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
