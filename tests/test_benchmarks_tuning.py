"""benchmarks/tuning_overhead.py at its smallest size (--quick): it runs and reports; no timing is asserted."""

import importlib.util
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tuning_overhead():
    spec = importlib.util.spec_from_file_location("tuning_overhead", REPO_ROOT / "benchmarks" / "tuning_overhead.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_prints_one_table_with_the_overhead_and_the_machine(tuning_overhead, tmp_path):
    lines = []
    measured = tuning_overhead.main(["--quick", f"--workdir={tmp_path}"], print_fn=lines.append)
    table = lines[0].splitlines()
    assert len(lines) == 1
    assert table[0].startswith("tuning overhead: random search vs plain fit, 2 trials x 1 epoch, ")
    assert table[1].startswith("machine: ") and "cores" in table[1] and "TensorFlow" in table[1]
    assert table[2].split()[:3] == ["repeat", "order", "search"]
    assert table[-1].startswith("overhead: ") and "% wall" in table[-1]
    assert measured["num_trials"] == 2 and len(measured["runs"]) == 1
    assert measured["total_search_seconds"] > 0 and measured["total_plain_seconds"] > 0
    assert (tmp_path / "search-1" / "trials.json").is_file() and not (tmp_path / "search-1" / "model.keras").exists()


@pytest.mark.parametrize("argument", ["--num_trials=0", "--repeats=0"])
def test_sizes_below_one_are_refused(tuning_overhead, tmp_path, argument):
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        tuning_overhead.main([argument, "--epochs=1", f"--workdir={tmp_path}"])
