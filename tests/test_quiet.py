"""The command line's TensorFlow import: chatter filtered, Keras' optional extras not loaded."""

import subprocess
import sys
import textwrap

import pytest

from keras_minibatch.quiet import filter_chatter, hidden_modules


def test_hidden_modules_fail_to_import_inside_the_block_only(tmp_path, monkeypatch):
    (tmp_path / "optional_extra.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "optional_extra", raising=False)  # Gone after the test too.
    with hidden_modules(["optional_extra"]), pytest.raises(ImportError):
        import optional_extra
    import optional_extra

    assert optional_extra.VALUE == 1


def test_a_name_must_come_in_a_list():
    with pytest.raises(TypeError, match="a list of module names"), hidden_modules("sklearn"):
        pass


def test_an_already_imported_module_stays_importable():
    with hidden_modules(["json"]):
        import json

        assert json.dumps(1) == "1"


def test_chatter_is_dropped_and_errors_are_kept():
    text = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795855872.398840    5682 port.cc:153] oneDNN custom operations are on.\n"
        "E0000 00:00:1795855872.398840    5682 cuda.cc:1] a real error\n"
    )
    assert filter_chatter(text) == "E0000 00:00:1795855872.398840    5682 cuda.cc:1] a real error\n"


@pytest.mark.integration
def test_commands_import_keras_without_scikit_learn_and_pyplot():
    probe = textwrap.dedent("""
        import sys
        from keras_minibatch.cli import preflight
        preflight.quiet_tensorflow()  # What every command runs before its work.
        loaded = [name for name in ("sklearn", "matplotlib") if name in sys.modules]
        assert "keras" in sys.modules and not loaded, loaded
        import matplotlib.pyplot, sklearn.datasets  # Still there when this package needs them.
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
