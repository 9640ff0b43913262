"""A distributed search under faults: taken ports, strangers, duplicate ids, dead workers, a dead chief.

The first tests drive the chief's server and a worker's connection in one process
on 127.0.0.1 (a real gRPC server, KerasTuner's real oracle, waits of a second);
the integration tests run `keras-minibatch tune` chiefs and workers as real
processes and kill them with SIGKILL at chosen points. Every wait is bounded.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import keras
import keras_tuner
import pytest

from keras_minibatch import compat
from keras_minibatch.training import termination
from keras_minibatch.tuning.chief_server import ChiefServer
from keras_minibatch.tuning.oracle_address import OracleAddress, OracleAddressError, check_port_free, oracle_address
from keras_minibatch.tuning.worker_connection import ChiefLostError, SearchOverError, WorkerConnection, WorkerRefusedError, _BoundedStub

protos = compat.kerastuner_protos()

DEADLINE_SECONDS = 240


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _oracle(tmp_path: Path, max_trials: int = 2):
    """KerasTuner's real random-search oracle on a space of four widths."""

    def build(hp):
        hp.Choice("units", [8, 16, 32, 64])
        return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])

    tuner = keras_tuner.RandomSearch(build, objective=keras_tuner.Objective("score", "max"), max_trials=max_trials, seed=1, directory=str(tmp_path), project_name="p")
    tuner.oracle.verbose = 0
    return tuner.oracle


class _Chief:
    """A `ChiefServer` serving `oracle` from a background thread, as the chief's main thread would."""

    def __init__(self, port: int, oracle=None, *, timeout: float = 1.0, identity: str = "search-a"):
        self.said: list[str] = []
        self.server = ChiefServer(OracleAddress("chief", "127.0.0.1", port), heartbeat_timeout=timeout, say=self.said.append)
        self.thread = None
        if oracle is not None:
            self.start(oracle, identity)

    def start(self, oracle, identity: str = "search-a") -> None:
        self.thread = threading.Thread(target=self.server.serve, args=(oracle, identity), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.close()


def _worker(port: int, tuner_id: str = "tuner0", *, identity: str = "search-a", timeout: float = 1.0) -> WorkerConnection:
    return WorkerConnection(OracleAddress(tuner_id, "127.0.0.1", port), search_identity=identity, heartbeat_timeout=timeout)


def _create_trial(connection: WorkerConnection):
    response = _BoundedStub(connection).CreateTrial(protos.get_service().CreateTrialRequest(tuner_id=connection.address.tuner_id))
    return response.trial


def _end_trial(connection: WorkerConnection, trial_proto, score: float) -> None:
    from keras_tuner.engine.trial import Trial

    stub = _BoundedStub(connection)
    stub.UpdateTrial(protos.get_service().UpdateTrialRequest(trial_id=trial_proto.trial_id, metrics={"score": score}, step=0))
    trial = Trial.from_proto(trial_proto)
    trial.status = "COMPLETED"
    stub.EndTrial(protos.get_service().EndTrialRequest(trial=trial.to_proto()))


STATUS = protos.get_proto().TrialStatus


def test_a_taken_port_is_one_line_and_the_chiefs_bind_is_exclusive(tmp_path):
    port = _free_loopback_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(OracleAddressError, match=f"KERASTUNER_ORACLE_PORT={port} is taken on 127.0.0.1"):
            ChiefServer(OracleAddress("chief", "127.0.0.1", port), heartbeat_timeout=5)
    chief = ChiefServer(OracleAddress("chief", "127.0.0.1", port), heartbeat_timeout=5)
    try:
        with pytest.raises(OracleAddressError, match="is taken"):
            ChiefServer(OracleAddress("chief", "127.0.0.1", port), heartbeat_timeout=5)
        # KerasTuner's own server sets SO_REUSEPORT; ours does not, so not even it can share the port.
        import grpc
        from concurrent import futures

        upstream_style = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        with pytest.raises(RuntimeError, match="Failed to bind"):
            upstream_style.add_insecure_port(f"127.0.0.1:{port}")
    finally:
        chief.close()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"KERASTUNER_TUNER_ID": "../x"}, "KERASTUNER_TUNER_ID='../x' must be 1 to 64 letters"),
        ({"KERASTUNER_ORACLE_IP": "999.1.1.1"}, "KERASTUNER_ORACLE_IP=999.1.1.1 is not an address or a host name"),
        ({"KERASTUNER_ORACLE_PORT": "８０８０"}, "must be a port number from 1 to 65535"),
    ],
)
def test_malformed_distributed_variables_are_refused_by_name(env, expected):
    full = {"KERASTUNER_TUNER_ID": "tuner0", "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000", **env}
    with pytest.raises(OracleAddressError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        oracle_address(full)


def test_an_address_of_another_machine_is_refused_for_the_chief():
    with pytest.raises(OracleAddressError, match="KERASTUNER_ORACLE_IP=192.0.2.1 is not an address of this machine"):
        check_port_free(OracleAddress("chief", "192.0.2.1", _free_loopback_port()))


def test_a_worker_of_another_search_is_refused_by_the_chief_itself(tmp_path):
    port = _free_loopback_port()
    chief = _Chief(port, _oracle(tmp_path), identity="search-a")
    try:
        with pytest.raises(WorkerRefusedError, match="does not run the chief's search"):
            _worker(port, identity="search-b").wait_for_chief()
        _worker(port, identity="search-a").wait_for_chief()  # the same search is let in
    finally:
        chief.close()


def test_a_second_live_worker_with_a_taken_id_is_refused(tmp_path):
    port = _free_loopback_port()
    chief = _Chief(port, _oracle(tmp_path), timeout=30)
    first, second = _worker(port, "tuner0", timeout=30), _worker(port, "tuner0", timeout=30)
    try:
        first.wait_for_chief()
        with pytest.raises(WorkerRefusedError, match="KERASTUNER_TUNER_ID=tuner0 is taken by another live worker"):
            second.wait_for_chief()
        _worker(port, "tuner1", timeout=30).wait_for_chief()
    finally:
        chief.close()


def test_a_worker_waits_while_the_chief_prepares_and_gives_up_when_nothing_answers(tmp_path):
    port = _free_loopback_port()
    chief = _Chief(port, timeout=1.0)  # bound, oracle not ready: "preparing"
    try:
        waited = {}
        worker = _worker(port, timeout=1.0)
        thread = threading.Thread(target=lambda: waited.setdefault("error", _capture(worker.wait_for_chief)))
        thread.start()
        time.sleep(2.5)  # longer than the timeout: preparing is not silence
        assert thread.is_alive()
        chief.start(_oracle(tmp_path))
        thread.join(timeout=10)
        assert not thread.is_alive() and waited["error"] is None
    finally:
        chief.close()
    started = time.monotonic()
    with pytest.raises(ChiefLostError, match=f"no chief answered at 127.0.0.1:{port} within 1 s"):
        _worker(port, timeout=1.0).wait_for_chief()
    assert time.monotonic() - started < 5


def _capture(function):
    try:
        function()
    except Exception as error:  # noqa: BLE001 - handed to the test thread
        return error
    return None


def test_after_the_search_every_worker_hears_it_is_over(tmp_path):
    port = _free_loopback_port()
    chief = _Chief(port, _oracle(tmp_path))
    try:
        chief.server.finish()
        with pytest.raises(SearchOverError, match="the search is over"):
            _worker(port).wait_for_chief()
    finally:
        chief.close()
    # No chief, but the folder shows the finished search: the worker need not wait.
    started = time.monotonic()
    with pytest.raises(SearchOverError):
        _worker(port, timeout=30).wait_for_chief(search_is_over=lambda: True)
    assert time.monotonic() - started < 5


def test_a_silent_workers_trial_goes_to_the_next_worker_then_fails_after_a_second_loss(tmp_path):
    port = _free_loopback_port()
    oracle = _oracle(tmp_path, max_trials=2)
    chief = _Chief(port, oracle, timeout=1.0)
    a, b, c = (_worker(port, name, timeout=30) for name in ("a", "b", "c"))
    try:
        lost = _create_trial(a)  # a takes trial 1 and falls silent (it sends no heartbeat)
        b.attach(types.SimpleNamespace(oracle=types.SimpleNamespace()))  # b's heartbeat runs
        mine = _create_trial(b)
        _end_trial(b, mine, 0.5)
        assert _create_trial(b).status == STATUS.IDLE  # a's trial may need b yet: wait, not stop
        _wait_for(lambda: chief.said, timeout=10)
        assert chief.said == ["chief: worker a has not answered for 1 s; its trial 1 goes to the next worker that asks"]
        again = _create_trial(b)
        assert again.status == STATUS.RUNNING and again.trial_id == lost.trial_id
        with pytest.raises(WorkerRefusedError, match="gave up on this worker"):
            _end_trial(a, lost, 0.9)  # a wakes up: its result no longer counts
        b.close()  # b falls silent on it too: the trial is marked failed instead of going round again
        _wait_for(lambda: len(chief.said) == 2, timeout=10)
        assert "its trial 1 lost a worker twice and is marked failed" in chief.said[-1]
        assert oracle.trials[lost.trial_id].status == "FAILED"
        assert _create_trial(c).status == STATUS.STOPPED
        chief.thread.join(timeout=10)
        assert not chief.thread.is_alive()  # every trial ended and every live worker was told to stop
    finally:
        for connection in (a, b, c):
            connection.close()
        chief.close()


# -- real processes -----------------------------------------------------------------

# Test-only plug-in: what each process does at the end of an epoch is set by its environment.
_FAULT_PLUGIN = textwrap.dedent(
    """
    import os, signal, time
    from pathlib import Path
    import keras

    class Fault(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if os.environ.get("FAULT_MARK"):
                Path(os.environ["FAULT_MARK"]).touch()
            if os.environ.get("FAULT") == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if os.environ.get("FAULT") == "slow":
                time.sleep(2)
    """
)


def _tune(tmp_path, port, tuner_id, *extra, name, fault_env=None):
    env = {
        **os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), str(tmp_path)]),
        "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port), **(fault_env or {}),
    }
    args = [
        "tune", "--dataset=digits", "--max_train_samples=200", "--hidden_units=8", "--epochs=2", "--max_trials=2",
        "--heartbeat_timeout=5", "--callbacks=fault_plugin:Fault", f"--workdir={tmp_path / 'search'}", *extra,
    ]
    log = open(tmp_path / f"{name}.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "keras_minibatch", *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    process.log_path = tmp_path / f"{name}.log"
    log.close()
    return process


def _finish(*processes, timeout=DEADLINE_SECONDS):
    deadline = time.monotonic() + timeout
    try:
        for process in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _wait_for(condition, timeout=DEADLINE_SECONDS):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _errors(process) -> list[str]:
    return [line for line in process.log_path.read_text().splitlines() if line.startswith("keras-minibatch: error: ")]


@pytest.mark.integration
def test_a_killed_workers_trial_is_run_by_another_and_a_late_worker_learns_the_search_is_over(tmp_path):
    (tmp_path / "fault_plugin.py").write_text(_FAULT_PLUGIN)
    port = _free_loopback_port()
    chief = _tune(tmp_path, port, "chief", name="chief")
    doomed = _tune(tmp_path, port, "tuner0", name="tuner0", fault_env={"FAULT": "kill"})  # SIGKILLs itself mid-trial
    try:
        _finish(doomed)
        assert doomed.returncode == -signal.SIGKILL
        replacement = _tune(tmp_path, port, "tuner1", name="tuner1")
        _finish(replacement, chief)
    finally:
        _finish(chief, timeout=1)
    chief_output = chief.log_path.read_text()
    assert chief.returncode == 0, chief_output[-3000:]
    assert replacement.returncode == 0, replacement.log_path.read_text()[-3000:]
    assert "chief: worker tuner0 has not answered for 5 s; its trial 1 goes to the next worker that asks" in chief_output
    rows = json.loads((tmp_path / "search" / "trials.json").read_text())
    assert [(row["number"], row["status"]) for row in rows] == [(1, "COMPLETED"), (2, "COMPLETED")]
    assert (tmp_path / "search" / "metrics.json").is_file()

    started = time.monotonic()
    late = _tune(tmp_path, port, "tuner2", name="late")
    _finish(late, timeout=120)
    output = late.log_path.read_text()
    assert late.returncode == 0 and output.splitlines()[-1] == (
        "worker tuner2: the search is over: its folder holds the finished search and no chief runs on it; nothing to run"
    ), output
    assert time.monotonic() - started < 60  # the start-up of TensorFlow, not KerasTuner's hour or our 5 s timeout on top


@pytest.mark.integration
def test_a_duplicate_worker_id_is_refused_and_workers_of_a_killed_chief_exit_within_the_timeout(tmp_path):
    (tmp_path / "fault_plugin.py").write_text(_FAULT_PLUGIN)
    port, mark = _free_loopback_port(), tmp_path / "training"
    chief = _tune(tmp_path, port, "chief", name="chief")
    worker = _tune(tmp_path, port, "tuner0", name="tuner0", fault_env={"FAULT": "slow", "FAULT_MARK": str(mark)})
    try:
        _wait_for(mark.exists)  # the worker is inside its first trial
        twin = _tune(tmp_path, port, "tuner0", name="twin")
        _finish(twin, timeout=120)
        assert twin.returncode == 1 and len(_errors(twin)) == 1, twin.log_path.read_text()
        assert "KERASTUNER_TUNER_ID=tuner0 is taken by another live worker" in _errors(twin)[0]
        assert "Traceback" not in twin.log_path.read_text()

        chief.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        _finish(worker, timeout=60)
        waited = time.monotonic() - killed_at
    finally:
        _finish(chief, worker, timeout=1)
    output = worker.log_path.read_text()
    assert worker.returncode == 1, output[-3000:]
    assert waited < 5 + 2 + 5, waited  # the stated timeout, one slow epoch, slack for a loaded machine
    errors = _errors(worker)
    assert len(errors) == 1 and "stopped answering" in errors[0] and "Traceback" not in output, output[-3000:]

    # As the message says: the chief resumes, the trial it lost runs again, the search ends.
    chief = _tune(tmp_path, port, "chief", "--resume", name="chief-resumed")
    worker = _tune(tmp_path, port, "tuner0", name="tuner0-again")
    _finish(worker, chief)
    assert chief.returncode == 0 and worker.returncode == 0, chief.log_path.read_text()[-3000:]
    rows = json.loads((tmp_path / "search" / "trials.json").read_text())
    assert [(row["number"], row["status"]) for row in rows] == [(1, "COMPLETED"), (2, "COMPLETED")]


def test_a_taken_port_is_one_line_before_the_folder_changes(tmp_path):
    folder = tmp_path / "search"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    port = _free_loopback_port()
    env = {**os.environ, "KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "keras_minibatch", "tune", "--dataset=digits", f"--workdir={folder}", "--overwrite"],
            capture_output=True, text=True, env=env, timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"keras-minibatch: error: KERASTUNER_ORACLE_PORT={port} is taken on 127.0.0.1 (another chief or program listens there); "
        "choose a free port for this search's chief and its workers"
    )
    assert sorted(path.name for path in folder.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize(("value", "shown"), [("1", "1.0"), ("nan", "nan"), ("1e9", "1000000000.0")])
def test_a_heartbeat_timeout_out_of_range_is_one_line(tmp_path, value, shown):
    env = {**os.environ, "KERASTUNER_TUNER_ID": "tuner0", "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"}
    result = subprocess.run(
        [sys.executable, "-m", "keras_minibatch", "tune", "--dataset=digits", f"--workdir={tmp_path / 's'}", f"--heartbeat_timeout={value}"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"keras-minibatch: error: --heartbeat_timeout={shown} must be a number of seconds from 5 to 86400"


@pytest.mark.parametrize(("sigint", "expected"), [("default", "SIGINT"), ("ignored", "SIGTERM")])
def test_a_lost_chief_interrupts_the_main_thread_even_where_sigint_is_ignored(sigint, expected):
    seen = []
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN if sigint == "ignored" else lambda signum, frame: seen.append("SIGINT"))
    signal.signal(signal.SIGTERM, termination.handle_stop_signal)  # as the command line handles it
    connection = _worker(1)
    try:
        connection._closed.set()  # the main thread "stopped": no grace period, no exit
        connection._give_up(ChiefLostError("the chief is gone"))
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)  # the handler runs in the main thread, between bytecodes
    except termination.Terminated:
        seen.append("SIGTERM")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        termination.forget_stop_request()
        connection.close()
    assert seen == [expected] and str(connection.lost) == "the chief is gone"
