"""The README's examples run as written (at a tiny size), its commands are real, and CI runs what it says."""

import re
import shlex
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
DOCS = [README, *sorted((REPO_ROOT / "docs").glob("*.md")), REPO_ROOT / "benchmarks" / "README.md"]
# The user's page, in this order; the engineering notes live in docs/.
SECTIONS = [
    "Install", "Test", "Train", "Your own script", "Tune", "Compare full batch, SGD and mini-batch",
    "Open TensorBoard", "Resume", "Evaluate", "Use your model", "Further reading",
]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README.read_text(), flags=re.DOTALL | re.MULTILINE)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def shell_commands(text: str) -> list[str]:
    """The commands of the ```bash blocks in `text`, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    python_blocks = blocks("python")
    assert len(python_blocks) == 3
    for block in python_blocks:
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


def test_readme_commands_name_real_subcommands():
    from keras_minibatch.cli import main as cli

    invocations = [command for command in shell_commands(README.read_text()) if "keras-minibatch" in shlex.split(command)]
    assert len(invocations) >= 10
    for command in invocations:
        words = shlex.split(command)
        assert words[words.index("keras-minibatch") + 1] in cli.COMMANDS, command


def test_readme_is_the_users_page_in_order():
    titles = re.findall(r"^## (.+)$", README.read_text(), flags=re.MULTILINE)
    assert titles == SECTIONS
    assert "-m \"not integration\"" in section("Test")  # The everyday subset.


def test_ci_runs_the_readme_install_and_test_commands():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    install = [command for command in shell_commands(section("Install")) if "pip install" in command]
    assert install == ['python -m pip install -e ".[test]" -c constraints.txt']
    assert shell_commands(section("Test")) == ["python -m pytest"]
    assert re.search(rf"^# README: Install\n{re.escape(install[0])}\n", ci, flags=re.MULTILINE)
    assert re.search(r"^# README: Test\npython -m pytest\n", ci, flags=re.MULTILINE)


def test_constraints_pin_every_dependency_within_pyproject_bounds():
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = {}  # name -> the version pinned on this machine (None where a marker leaves it to pip)
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pin = Requirement(line)
            applies = pin.marker is None or pin.marker.evaluate()
            pins[canonicalize_name(pin.name)] = next(iter(pin.specifier)).version if applies else None
    for line in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"constraints.txt does not pin {name}"
        if pins[name] is not None:
            assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside pyproject's {requirement}"


def test_links_between_the_documents_resolve():
    for document in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", document.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            assert linked.exists(), f"{document.name}: {target}"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.MULTILINE)
                slugs = {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}
                assert anchor in slugs, f"{document.name}: {target}"


def test_readme_quotes_no_commit_hashes():
    # Commit hashes go stale in the user's page; docs/ and benchmarks/ may name them.
    words = re.findall(r"\b[0-9a-f]{7,40}\b", README.read_text())
    assert [word for word in words if re.search(r"[a-f]", word) and re.search(r"\d", word)] == []
