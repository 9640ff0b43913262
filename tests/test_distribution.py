"""Training under tf.distribute strategies: mirrored in-process, multi-worker across processes."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_minibatch import ConfigError, TrainConfig, train_and_evaluate
from keras_minibatch.training.multi_worker import ClusterConfigError, check_tf_config


def test_mirrored_strategy_trains_on_local_devices(tmp_path):
    config = TrainConfig(dataset="digits", max_train_samples=240, epochs=1, hidden_units=(16,), distribution="mirrored")
    result = train_and_evaluate(config, tmp_path, verbose=0)
    assert len(result.history["loss"]) == 1
    assert (tmp_path / "model.keras").is_file()


def test_multi_worker_refuses_the_single_process_speed_settings():
    with pytest.raises(ConfigError, match=r"`steps_per_execution` \(256\) must be 1 with distribution=multi_worker"):
        TrainConfig(distribution="multi_worker")
    with pytest.raises(ConfigError, match=r"`jit_compile` \(True\) must be false with distribution=multi_worker"):
        TrainConfig(distribution="multi_worker", steps_per_execution=1, jit_compile=True)
    assert TrainConfig(distribution="multi_worker", steps_per_execution=1, jit_compile=False).distribution == "multi_worker"
    assert TrainConfig(distribution="multi_worker", steps_per_execution=1).jit_compile == "auto"  # Which never picks XLA there.


@pytest.mark.parametrize(
    "value, match",
    [
        (None, r"TF_CONFIG=\(unset\) must be set for --distribution=multi_worker"),
        ("{not json", r"TF_CONFIG=\{not json must be JSON like"),
        ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "must list the workers"),
        ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}', "must name only workers"),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "an index from 0 to 1"),
    ],
)
def test_tf_config_is_checked_with_one_line(value, match):
    environ = {} if value is None else {"TF_CONFIG": value}
    with pytest.raises(ClusterConfigError, match=match) as caught:
        check_tf_config(environ)
    assert "\n" not in str(caught.value)


def test_tf_config_gives_the_cluster_size_and_this_worker():
    environ = {"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'}
    assert check_tf_config(environ) == (2, 1)


def test_multi_worker_without_tf_config_is_a_usage_error(run_cli, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code, out, err = run_cli("train", "--distribution=multi_worker")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "TF_CONFIG=(unset) must be set" in err


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _start_workers(tmp_path, num_workers):
    """Starts `num_workers` `train --distribution=multi_worker` processes on 127.0.0.1."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(num_workers)]}
    workers = []
    for index in range(num_workers):
        environ = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "keras_minibatch", "train", "--distribution=multi_worker", "--dataset=digits",
             "--max_train_samples=600", "--epochs=2", "--hidden_units=32,16", f"--workdir={tmp_path / f'worker{index}'}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
        ))
    try:
        outputs = [worker.communicate(timeout=240) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]


def test_a_single_worker_cluster_trains_as_one_process(tmp_path):
    # One worker takes Keras' single-worker path: no workaround, plain scalar metrics.
    _start_workers(tmp_path, 1)
    history = json.loads((tmp_path / "worker0" / "history.json").read_text())
    assert len(history["loss"]) == 2 and all(isinstance(value, float) for value in history["loss"])


def test_two_workers_train_one_model_together(tmp_path):
    _start_workers(tmp_path, 2)
    histories = [json.loads((tmp_path / f"worker{index}" / "history.json").read_text()) for index in range(2)]
    assert histories[0] == histories[1] and len(histories[0]["loss"]) == 2
    metrics = [json.loads((tmp_path / f"worker{index}" / "metrics.json").read_text()) for index in range(2)]
    assert metrics[0]["test_accuracy"] == metrics[1]["test_accuracy"] > 0.3
    models = [keras.models.load_model(tmp_path / f"worker{index}" / "model.keras") for index in range(2)]
    for first, second in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_array_equal(first, second)
    # --batch_size is the global batch: 600 training rows, 540 fitted, 17 updates of 32
    # (16 rows per worker) per epoch, not 34 of 16.
    assert int(models[0].optimizer.iterations) == int(models[1].optimizer.iterations) == 2 * 17
