"""`jit_compile="auto"`: XLA only when a training's updates repay the compile, decided in one place for every training."""

import pytest
from absl import flags
from absl.testing import flagsaver

from keras_minibatch.config import TrainConfig
from keras_minibatch.training import xla_choice
from keras_minibatch.training.core import Trainer
from keras_minibatch.training.model import build_mlp
from keras_minibatch.training.xla_choice import AUTO_XLA_MIN_UPDATES, planned_updates, resolve_jit_compile

TINY = dict(hidden_units=(4,), epochs=2, batch_size=16)


@pytest.mark.parametrize(
    "jit_compile, distribution, num_updates, expected",
    [
        ("auto", "none", AUTO_XLA_MIN_UPDATES - 1, False),
        ("auto", "none", AUTO_XLA_MIN_UPDATES, True),
        ("auto", "mirrored", AUTO_XLA_MIN_UPDATES, True),
        ("auto", "multi_worker", 10 * AUTO_XLA_MIN_UPDATES, False),  # XLA has no cross-worker collectives on CPU.
        (True, "none", 1, True),
        (False, "none", 10 * AUTO_XLA_MIN_UPDATES, False),
    ],
)
def test_auto_weighs_the_updates_and_true_or_false_are_kept(jit_compile, distribution, num_updates, expected):
    config = TrainConfig(jit_compile=jit_compile, distribution=distribution, steps_per_execution=1 if distribution == "multi_worker" else 256)
    assert resolve_jit_compile(config, num_updates=num_updates) is expected


def test_planned_updates_count_each_epochs_short_last_batch():
    assert planned_updates(epochs=10, epoch_rows=1293, batch_size=32) == 410


def test_the_default_digits_run_is_short_and_ten_mnist_epochs_are_long():
    assert planned_updates(epochs=10, epoch_rows=1293, batch_size=32) < AUTO_XLA_MIN_UPDATES
    assert planned_updates(epochs=10, epoch_rows=54_000, batch_size=32) >= AUTO_XLA_MIN_UPDATES
    assert planned_updates(epochs=1, epoch_rows=54_000, batch_size=32) >= AUTO_XLA_MIN_UPDATES  # one MNIST epoch: steady epochs are XLA's
    assert planned_updates(epochs=5, epoch_rows=1293, batch_size=32) < AUTO_XLA_MIN_UPDATES  # a digits search trial


@pytest.mark.parametrize("threshold, compiled", [(10**9, False), (1, True)])
def test_the_trainer_builds_with_the_choice(monkeypatch, threshold, compiled):
    monkeypatch.setattr(xla_choice, "AUTO_XLA_MIN_UPDATES", threshold)
    trainer = Trainer(TrainConfig(**TINY), input_shape=(8, 8), num_classes=10, epoch_rows=64)
    assert trainer.jit_compile is compiled
    assert hasattr(trainer.model, "fused_updates") is compiled  # The fused XLA program, only with XLA.


@pytest.mark.parametrize("threshold, compiled", [(10**9, False), (1, True)])
def test_a_model_built_elsewhere_gets_the_trainers_choice(monkeypatch, threshold, compiled):
    # KerasTuner builds a trial's model before the trial's updates are known; the core decides.
    monkeypatch.setattr(xla_choice, "AUTO_XLA_MIN_UPDATES", threshold)
    model = build_mlp((8, 8), 10, hidden_units=(4,))
    trainer = Trainer(TrainConfig(**TINY), model=model, epoch_rows=64)
    assert trainer.jit_compile is compiled and hasattr(model, "fused_updates") is compiled


@pytest.mark.parametrize(
    "argv, expected",
    [([], "auto"), (["--jit_compile"], True), (["--nojit_compile"], False), (["--jit_compile=auto"], "auto"), (["--jit_compile=false"], False), (["--jit_compile=True"], True)],
)
def test_the_flag_takes_auto_true_and_false(argv, expected):
    from keras_minibatch.cli import flags as cli_flags

    with flagsaver.flagsaver():
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["keras-minibatch", *argv])
        assert cli_flags.JIT_COMPILE.value == expected
        assert cli_flags.build_config().jit_compile == expected


def test_a_bad_flag_value_is_one_line(run_cli):
    code, out, err = run_cli("train", "--jit_compile=maybe")
    assert code == 2 and err.count("\n") == 1
    assert "--jit_compile=maybe: must be auto, true or false" in err
