"""SearchConfig and --fixed parsing: checked values, clear errors, standard library only."""

import json
import math
import subprocess
import sys

import pytest

from keras_minibatch.checks import ConfigError
from keras_minibatch.tuning.search_config import (
    FIXABLE_HYPERPARAMETERS,
    OBJECTIVES,
    SearchConfig,
    parse_fix_spec,
)


def test_defaults_cover_the_lecture_mlp():
    config = SearchConfig()
    assert (config.tuner, config.objective, config.direction) == ("random", "val_accuracy", "max")
    assert config.num_layers_range == (1, 4)
    assert config.units_choices == (32, 64, 128, 256)
    assert "relu" in config.activation_choices and "adam" in config.optimizer_choices
    assert config.learning_rate_range[0] <= 1e-3 <= config.learning_rate_range[1]
    assert 32 in config.batch_size_choices


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tuner", "annealing", "must be one of: random, bayesian, grid, hyperband"),
        ("max_trials", 0, "integer >= 1"),
        ("max_trials", 2.0, "integer >= 1"),
        ("executions_per_trial", 0, "integer >= 1"),
        ("objective", "accuracy", "val_accuracy .maximized. or val_loss .minimized."),
        ("objective", "test_accuracy", "never on the test split"),
        ("objective", "val_precision", "must be a validation metric: val_accuracy"),
        ("num_layers_range", (0, 2), r"pair \(min, max\) with min <= max, each an integer >= 1"),
        ("num_layers_range", (3, 1), "min <= max"),
        ("num_layers_range", (1, 2, 3), "pair"),
        ("units_choices", (), "at least one value"),
        ("units_choices", (32, 0), "integers >= 1"),
        ("units_choices", (32, 32), "must not repeat"),
        ("activation_choices", ("relu", "sigmoidal"), "must be one of: relu"),
        ("optimizer_choices", ("adamm",), "must be one of: adam"),
        ("dropout_range", (0.0, 1.0), r"in \[0, 1\)"),
        ("learning_rate_range", (0.0, 0.1), "finite number > 0"),
        ("learning_rate_range", (1e-3, math.inf), "finite number > 0"),
        ("learning_rate_range", (1e-2, 1e-3), "min <= max"),
        ("batch_size_choices", (16, -1), "integers >= 1"),
        ("hyperband_factor", 1, "integer >= 2"),
        ("num_initial_points", 0, "integer >= 1"),
        ("units_choices", "32,64", "list of values"),
    ],
)
def test_bad_value_names_field_value_and_rule(field, value, message):
    with pytest.raises(ConfigError, match=message) as caught:
        SearchConfig(**{field: value})
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("fixed", "message"),
    [
        ({"lr": 1e-3}, "unknown hyperparameter 'lr'; known: num_layers, units, activation, dropout, optimizer, learning_rate, batch_size"),
        ({"learning_rate": -1.0}, "fixes learning_rate to -1.0, but it must be a finite number > 0"),
        ({"units": 0}, "must be an integer >= 1"),
        ({"optimizer": "adamm"}, "must be one of: adam"),
        ({"dropout": 1.0}, r"must be a number in \[0, 1\)"),
        ([("units", 8), ("units", 16)], "fixes units twice"),
        ("learning_rate=1e-3", "parse text with parse_fix_spec"),
    ],
)
def test_bad_fixed_value_is_refused(fixed, message):
    with pytest.raises(ConfigError, match=message) as caught:
        SearchConfig(fixed=fixed)
    assert caught.value.field == "fixed"


def test_fixed_accepts_a_mapping_or_pairs_and_stores_sorted_pairs():
    from_mapping = SearchConfig(fixed={"optimizer": "sgd", "learning_rate": 0.1})
    from_pairs = SearchConfig(fixed=[("learning_rate", 0.1), ("optimizer", "sgd")])
    assert from_mapping == from_pairs
    assert from_mapping.fixed == (("learning_rate", 0.1), ("optimizer", "sgd"))
    assert from_mapping.fixed_values == {"learning_rate": 0.1, "optimizer": "sgd"}


def test_parse_fix_spec_converts_each_value_to_its_hyperparameter_type():
    assert parse_fix_spec("learning_rate=1e-3, optimizer=adam,units=64,dropout=0") == {
        "learning_rate": 0.001, "optimizer": "adam", "units": 64, "dropout": 0.0,
    }
    assert parse_fix_spec(["batch_size=16", "num_layers=2"]) == {"batch_size": 16, "num_layers": 2}
    assert parse_fix_spec("") == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("lr=1e-3", "names an unknown hyperparameter 'lr'; known: num_layers, units"),
        ("learning_rate", "must be name=value items"),
        ("=3", "must be name=value items"),
        ("units=64.5", "fixes units to '64.5', but it must be an integer"),
        ("learning_rate=fast", "must be a number"),
        ("units=8,units=16", "fixes units twice"),
        ("activation=relu6x", "must be one of: relu"),
    ],
)
def test_parse_fix_spec_refuses_bad_items(spec, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_fix_spec(spec)
    assert caught.value.field == "fixed"


def test_round_trips_through_json():
    config = SearchConfig(tuner="grid", max_trials=4, units_choices=(8, 16), fixed={"learning_rate": 0.01})
    assert SearchConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_from_dict_refuses_unknown_keys():
    with pytest.raises(ConfigError, match="not a search config field"):
        SearchConfig.from_dict({"trials": 3})


def test_objectives_are_validation_metrics_only():
    assert set(OBJECTIVES) == {"val_accuracy", "val_loss"}
    assert OBJECTIVES == {"val_accuracy": "max", "val_loss": "min"}
    assert set(FIXABLE_HYPERPARAMETERS) == {"num_layers", "units", "activation", "dropout", "optimizer", "learning_rate", "batch_size"}


def test_importing_it_and_the_folder_checks_does_not_import_tensorflow():
    probe = "import sys, keras_minibatch.tuning.search_config, keras_minibatch.tuning.search_folder; print(any(m.split('.')[0] in ('tensorflow', 'keras', 'keras_tuner') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "False", result.stderr
