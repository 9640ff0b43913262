"""Bad command-line input: one line naming the flag, exit 2, no traceback, no TensorFlow."""

import subprocess
import sys

import pytest



@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "--epochs=0"], "--epochs=0 must be an integer >= 1"),
        (["train", "--epochs=-2"], "--epochs=-2 must be an integer >= 1"),
        (["train", "--epochs=abc"], "--epochs=abc must be an integer"),
        (["train", "--epochs=2.5"], "--epochs=2.5 must be an integer"),
        (["train", "--learning_rate=fast"], "--learning_rate=fast must be a number"),
        (["train", "--progress=loud"], "--progress=loud: value should be one of <auto|bar|lines>"),
        (["train", "--batch_size=0"], "--batch_size=0 must be an integer >= 1"),
        (["train", "--validation_split=1.5"], "--validation_split=1.5 must be a number strictly between 0 and 1"),
        (["train", "--validation_split=0"], "--validation_split=0.0 must be"),
        (["train", "--validation_split=nan"], "--validation_split=nan must be"),
        (["train", "--optimizer=adamm"], "--optimizer=adamm must be one of: adam, adamw, sgd"),
        (["train", "--learning_rate=0"], "--learning_rate=0.0 must be a finite number > 0"),
        (["train", "--learning_rate=-1"], "--learning_rate=-1.0 must be a finite number > 0"),
        (["train", "--activation=bogus"], "--activation=bogus must be one of"),
        (["train", "--hidden_units=32,x"], "--hidden_units=32,x must be a comma-separated list of integers"),
        (["train", "--dropout=1"], "--dropout=1.0 must be a number in [0, 1)"),
        (["train", "--early_stopping_mode=up"], "--early_stopping_mode=up must be one of: auto, min, max"),
        (["train", "--epoch=3"], "Unknown command line flag 'epoch'"),
        (["train", "extra"], "unexpected arguments 'extra'"),
        (["fly"], "unknown command 'fly'; use one of: train, evaluate, tune, compare, tensorboard"),
        ([], "no command given"),
        (["train", "--dataset=no/such/place"], "no/such/place"),
        (["train", "--callbacks=not a spec"], "--callbacks entry 'not a spec' is malformed"),
        (["evaluate"], "--model is required"),
        (["tune", "--max_trials=0"], "--max_trials=0 must be an integer >= 1"),
        (["tune", "--tuner=genetic"], "--tuner=genetic must be one of: random, bayesian, grid, hyperband"),
        (["tune", "--objective=accuracy"], "--objective=accuracy must be a validation metric"),
        (["tune", "--fix=lr=3"], "unknown hyperparameter 'lr'"),
        (["tune", "--executions_per_trial=0"], "--executions_per_trial=0 must be an integer >= 1"),
        (["tune", "--resume"], "--resume needs --workdir"),
        (["compare", "--batch_sizes=full,0"], "--batch_sizes=full,0 must be a comma-separated list"),
        (["compare", "--budget_seconds=-1"], "--budget_seconds=-1.0 must be a finite number of seconds > 0"),
        (["train", "--resume"], "--resume needs --workdir"),
        (["train", "--resume", "--overwrite", "--workdir=x"], "--resume and --overwrite exclude each other"),
        (["train", "--distribution=multi_worker", "--jit_compile"], "must be false with distribution=multi_worker: XLA has no cross-worker collectives"),
        (["train", "--distribution=multi_worker", "--steps_per_execution=8"], "--steps_per_execution=8 must be 1 with distribution=multi_worker"),
        (["tune", "--distribution=multi_worker"], "--distribution=multi_worker is for train; tune runs its trainings in one process"),
        (["compare", "--distribution=multi_worker"], "--distribution=multi_worker is for train; compare runs"),
        (["evaluate", "--model=no/such/model.keras"], "no model file found"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(run_cli, args, expected):
    code, out, err = run_cli(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("keras-minibatch: error: ")
    assert expected in err


def test_existing_workdir_is_refused(run_cli, tmp_path):
    (tmp_path / "config.json").write_text('{"config": {}}')  # a run folder from before markers
    (tmp_path / "model.keras").write_text("precious")
    code, _, err = run_cli("train", f"--workdir={tmp_path}")
    assert code == 1
    assert "--overwrite" in err and err.count("\n") == 1
    assert (tmp_path / "model.keras").read_text() == "precious"


def test_version_is_printed(run_cli):
    from keras_minibatch import __version__

    code, out, _ = run_cli("--version")
    assert (code, out) == (0, f"keras-minibatch {__version__}\n")


def test_help_lists_the_key_flags(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for flag in ("--epochs", "--batch_size", "--validation_split", "--dataset", "--workdir"):
        assert flag in out


@pytest.mark.parametrize("args", [["train", "--epochs=0"], ["train", "--bogus_flag=1"]])
def test_real_process_errors_before_importing_tensorflow(args):
    probe = (
        "import sys\n"
        "from keras_minibatch.cli import main as cli\n"
        "try:\n"
        "    cli.run(['keras-minibatch', *sys.argv[1:]])\n"
        "finally:\n"
        "    print('tensorflow imported:', 'tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout.strip() == "tensorflow imported: False"
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_console_script_and_module_entry_points_agree():
    module = subprocess.run([sys.executable, "-m", "keras_minibatch", "train", "--batch_size=0"], capture_output=True, text=True, timeout=60)
    assert module.returncode == 2
    assert module.stderr == "keras-minibatch: error: --batch_size=0 must be an integer >= 1\n"


EXIT_NOW = """
import sys, threading, time
from keras_minibatch.cli.main import _exit_now
mode = sys.argv[1]
print("x" * 100_000)  # block-buffered into a pipe: must be flushed before the process ends
if mode == "thread":
    def late_write():
        time.sleep(0.5)
        open(sys.argv[2], "w").write("done")
    threading.Thread(target=late_write).start()
_exit_now(3 if mode != "message" else "a message")
"""


@pytest.mark.parametrize("mode, code", [("code", 3), ("message", 1), ("thread", 3)])
def test_the_command_ends_without_teardown_but_loses_no_output_and_waits_for_threads(tmp_path, mode, code):
    marker = tmp_path / "written"
    done = subprocess.run([sys.executable, "-c", EXIT_NOW, mode, str(marker)], capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stderr
    assert done.stdout == "x" * 100_000 + "\n"
    assert ("a message" in done.stderr) == (mode == "message")
    assert marker.exists() == (mode == "thread")  # a running thread keeps the normal exit, which waits for it
