import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_minibatch.training.plugins import CallbackFailedError, CallbackSpecError, load_callback, parse_callback_spec, plugin_failures_named


@pytest.mark.parametrize(
    ("spec", "module", "class_name", "kwargs"),
    [
        ("pkg.mod:Cb", "pkg.mod", "Cb", {}),
        ("pkg.mod:Cb()", "pkg.mod", "Cb", {}),
        ("mod:Cb(every=2, name='x', values=[1, 2], on=True)", "mod", "Cb", {"every": 2, "name": "x", "values": [1, 2], "on": True}),
    ],
)
def test_parses_specs(spec, module, class_name, kwargs):
    parsed = parse_callback_spec(spec)
    assert (parsed.module, parsed.class_name, parsed.kwargs) == (module, class_name, kwargs)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "malformed"),
        ("mod:Cb(1, 2)", "keyword arguments only"),
        ("mod:Cb(x=open('f'))", "not a literal"),
        ("mod:Cb(x=", "malformed"),
        ("mod:Cb(**k)", r"\*\*kwargs"),
    ],
)
def test_bad_specs_are_refused(spec, message):
    with pytest.raises(CallbackSpecError, match=message):
        parse_callback_spec(spec)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_callbacks.py").write_text(
        textwrap.dedent(
            """
            import keras

            class CountEpochs(keras.callbacks.Callback):
                def __init__(self, start=0):
                    super().__init__()
                    if start < 0:
                        raise ValueError("start must be >= 0")
                    self.start = start

            class Explodes(keras.callbacks.Callback):
                __hash__ = None  # unhashable, as a user's class may be

                def on_epoch_end(self, epoch, logs=None):
                    raise RuntimeError(f"exploded at epoch {epoch + 1}")

            class NotACallback:
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "user_callbacks"
    sys.modules.pop("user_callbacks", None)


def test_loads_and_constructs_a_user_callback(user_module):
    callback = load_callback(f"{user_module}:CountEpochs(start=3)")
    assert isinstance(callback, keras.callbacks.Callback)
    assert callback.start == 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:Cb", "cannot import module 'no_such_module_xyz'"),
        ("user_callbacks:Missing", "has no attribute 'Missing'"),
        ("user_callbacks:CountEpochs(start=-1)", "constructing it failed: ValueError: start must be >= 0"),
        ("user_callbacks:CountEpochs(begin=1)", "constructing it failed: TypeError"),
        ("user_callbacks:NotACallback", "not a keras.callbacks.Callback"),
    ],
)
def test_load_failures_name_the_spec_and_cause(user_module, spec, message):
    with pytest.raises(CallbackSpecError, match=message):
        load_callback(spec)


def _fit_with(callbacks):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    model.fit(np.zeros((4, 2)), np.zeros(4), epochs=2, verbose=0, callbacks=callbacks)


def test_a_plugin_that_raises_in_fit_is_named_and_its_traceback_kept(user_module, tmp_path):
    assert keras.config.is_traceback_filtering_enabled()  # Keras' default (tests/conftest.py restores it after every test)
    plugin = load_callback(f"{user_module}:Explodes")
    with pytest.raises(CallbackFailedError) as raised:
        with plugin_failures_named(tmp_path / "failure.txt", plugins=True):
            _fit_with([plugin])
    assert str(raised.value).startswith(f"--callbacks {user_module}:Explodes raised RuntimeError: exploded at epoch 1 (traceback in ")
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert "in on_epoch_end" in (tmp_path / "failure.txt").read_text()
    assert keras.config.is_traceback_filtering_enabled()  # put back as it was


def test_a_keras_callback_used_as_a_plugin_is_named_too(tmp_path):
    spec = f"keras.callbacks:CSVLogger(filename={str(tmp_path / 'missing' / 'log.csv')!r})"
    plugin = load_callback(spec)
    with pytest.raises(CallbackFailedError, match=r"^--callbacks keras\.callbacks:CSVLogger\(.*\) raised FileNotFoundError"):
        with plugin_failures_named(tmp_path / "failure.txt", plugins=True):
            _fit_with([plugin])


def test_the_same_class_not_loaded_as_a_plugin_is_not_blamed(user_module, tmp_path):
    load_callback(f"{user_module}:Explodes")  # a plug-in of that class exists, but another instance raises
    ours = sys.modules[user_module].Explodes()
    with pytest.raises(RuntimeError, match="exploded at epoch 1"):
        with plugin_failures_named(tmp_path / "failure.txt", plugins=True):
            _fit_with([ours])
    assert not (tmp_path / "failure.txt").exists()
