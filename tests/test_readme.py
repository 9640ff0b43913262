"""The README's Python examples run as written (at a tiny size)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks()
    assert len(blocks) == 3
    for block in blocks:
        shrunk = block.replace("epochs=10", "epochs=1").replace("epochs=20", "epochs=1")
        exec(compile(shrunk, str(README), "exec"), {})
    assert (tmp_path / "epochs.csv").is_file()
    assert (tmp_path / "runs" / "my-run" / "model.keras").is_file()
    assert (tmp_path / "runs" / "my-search" / "best_hyperparameters.json").is_file()


def test_readme_commands_name_real_flags():
    from absl import flags

    from keras_minibatch.cli import flags as cli_flags  # noqa: F401  (defines the flags)

    for flag in set(re.findall(r"--([a-z_]+)=", README.read_text())) - {"logdir", "host", "flagfile"}:
        assert flag in flags.FLAGS, flag
