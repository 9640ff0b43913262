import json
import math

import pytest

from keras_minibatch.checks import ConfigError
from keras_minibatch.config import ACTIVATIONS, OPTIMIZERS, TrainConfig


def test_defaults_are_the_lecture_settings():
    config = TrainConfig()
    assert config.hidden_units == (32, 64, 128, 256)
    assert (config.optimizer, config.activation, config.batch_size, config.epochs) == ("adam", "relu", 32, 10)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "must be an integer >= 1"),
        ("epochs", 2.5, "must be an integer >= 1"),
        ("epochs", True, "must be an integer >= 1"),
        ("batch_size", 0, "must be an integer >= 1"),
        ("batch_size", -3, "must be an integer >= 1"),
        ("validation_split", 0.0, "strictly between 0 and 1"),
        ("validation_split", 1.0, "strictly between 0 and 1"),
        ("validation_split", 1.5, "strictly between 0 and 1"),
        ("validation_split", math.nan, "strictly between 0 and 1"),
        ("test_fraction", 2.0, "strictly between 0 and 1"),
        ("learning_rate", 0.0, "finite number > 0"),
        ("learning_rate", -1e-3, "finite number > 0"),
        ("learning_rate", math.inf, "finite number > 0"),
        ("learning_rate", math.nan, "finite number > 0"),
        ("optimizer", "adamm", "must be one of: adam"),
        ("activation", "relu6x", "must be one of: relu"),
        ("dropout", 1.0, r"in \[0, 1\)"),
        ("dropout", -0.1, r"in \[0, 1\)"),
        ("hidden_units", (), "one or more integers"),
        ("hidden_units", (32, 0), "one or more integers"),
        ("seed", -1, "integer >= 0"),
        ("max_train_samples", 0, "integer >= 1"),
        ("early_stopping_patience", -1, "integer >= 0"),
        ("early_stopping_mode", "biggest", "must be one of: auto, min, max"),
        ("early_stopping_min_delta", math.nan, "finite number >= 0"),
        ("early_stopping_min_delta", -0.1, "finite number >= 0"),
        ("steps_per_execution", 0, "integer >= 1"),
        ("jit_compile", "yes", "must be true, false or auto"),
        ("jit_compile", 1, "must be true, false or auto"),
    ],
)
def test_bad_value_names_field_value_and_rule(field, value, message):
    with pytest.raises(ConfigError, match=message) as caught:
        TrainConfig(**{field: value})
    assert caught.value.field == field
    assert f"`{field}`" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("monitor", ["val_f1", "", None])
def test_early_stopping_watches_only_what_every_epoch_logs(monitor):
    with pytest.raises(ConfigError, match="must be one of: loss, accuracy, val_loss, val_accuracy") as caught:
        TrainConfig(early_stopping=True, early_stopping_monitor=monitor)
    assert caught.value.field == "early_stopping_monitor"
    # Not read without early stopping: a run recorded before this check, with any name, still loads.
    assert TrainConfig.from_dict({"early_stopping": False, "early_stopping_monitor": "val_f1"}).early_stopping_monitor == "val_f1"


def test_round_trips_through_json():
    config = TrainConfig(hidden_units=(64, 32), dropout=0.2, callbacks=("pkg.mod:Cb(x=1)",))
    restored = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config


def test_from_dict_refuses_unknown_keys():
    with pytest.raises(ConfigError, match="not a config field"):
        TrainConfig.from_dict({"epoch": 3})


def test_replace_checks_the_new_value():
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig().replace(epochs=0)


def test_every_optimizer_and_activation_name_builds():
    from keras_minibatch.training.model import build_mlp

    for optimizer in OPTIMIZERS:
        build_mlp((4, 4), 3, hidden_units=(4,), optimizer=optimizer)
    for activation in ACTIVATIONS:
        build_mlp((4, 4), 3, hidden_units=(4,), activation=activation)
