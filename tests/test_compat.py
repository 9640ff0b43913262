"""`keras_minibatch.compat`: the version check, and that it alone reaches into the libraries' private modules."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from keras_minibatch import compat

LIBRARY = Path(__file__).resolve().parents[1] / "keras_minibatch"
SKIP = {compat.SKIP_VERSION_CHECK_VARIABLE: "1"}


def _installed(**fake):
    """A version lookup that answers `fake` (package -> version or None) and the real version for the rest."""
    real = compat.installed_version
    return lambda package: fake[package] if package in fake else real(package)


def test_the_installed_versions_are_supported():
    compat.check_versions({})


@pytest.mark.parametrize(
    ("package", "version", "supported"),
    [
        ("keras", "3.16.0", "keras>=3.3,<3.16"),
        ("keras", "3.2.1", "keras>=3.3,<3.16"),
        ("keras-tuner", "1.5.0", "keras-tuner>=1.4,<1.5"),
        ("keras-tuner", "1.3.5", "keras-tuner>=1.4,<1.5"),
        ("tensorflow", "2.22.0rc1", "tensorflow>=2.16,<2.22"),
        ("tensorflow", "2.15.1", "tensorflow>=2.16,<2.22"),
        ("tensorflow", "nightly", "tensorflow>=2.16,<2.22"),
    ],
)
def test_a_version_outside_the_range_is_one_error_naming_package_version_and_range(monkeypatch, package, version, supported):
    monkeypatch.setattr(compat, "installed_version", _installed(**{package: version}))
    with pytest.raises(compat.UnsupportedVersionError) as caught:
        compat.check_versions({})
    message = str(caught.value)
    assert f"{package} {version} is installed; supported: {supported}" in message
    assert "KERAS_MINIBATCH_SKIP_VERSION_CHECK=1" in message
    assert isinstance(caught.value, ImportError)


@pytest.mark.parametrize(("package", "version"), [("keras", "3.3.0"), ("keras", "3.15.99"), ("keras-tuner", "1.4.0"), ("tensorflow", "2.16.0"), ("tensorflow", "2.21.1")])
def test_versions_at_the_edges_of_the_range_pass(monkeypatch, package, version):
    monkeypatch.setattr(compat, "installed_version", _installed(**{package: version}))
    compat.check_versions({})


def test_every_package_out_of_range_is_named_in_the_one_error(monkeypatch):
    monkeypatch.setattr(compat, "installed_version", _installed(keras="4.0.0", tensorflow="3.0.0"))
    with pytest.raises(compat.UnsupportedVersionError, match=r"keras 4\.0\.0 is installed.*; tensorflow 3\.0\.0 is installed"):
        compat.check_versions({})


def test_the_environment_variable_skips_the_check(monkeypatch):
    monkeypatch.setattr(compat, "installed_version", _installed(keras="3.99.0"))
    compat.check_versions(SKIP)
    with pytest.raises(compat.UnsupportedVersionError):
        compat.check_versions({compat.SKIP_VERSION_CHECK_VARIABLE: "0"})


def test_a_package_that_is_not_installed_is_not_checked(monkeypatch):
    monkeypatch.setattr(compat, "installed_version", _installed(**{"keras-tuner": None}))
    compat.check_versions({})


def test_tensorflow_is_found_under_its_other_distribution_names(monkeypatch):
    import importlib.metadata

    def version(name):
        if name == "tensorflow-cpu":
            return "2.21.0"
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert compat.installed_version("tensorflow") == "2.21.0"
    assert compat.installed_version("keras") is None


_IMPORT_WITH_FAKE_KERAS = (
    "import importlib.metadata as metadata; real = metadata.version; "
    "metadata.version = lambda name: '3.16.0' if name == 'keras' else real(name); "
    "import keras_minibatch.compat"
)


@pytest.mark.parametrize("skip", [False, True])
def test_importing_compat_runs_the_check(monkeypatch, skip):
    monkeypatch.delenv(compat.SKIP_VERSION_CHECK_VARIABLE, raising=False)
    if skip:
        monkeypatch.setenv(compat.SKIP_VERSION_CHECK_VARIABLE, "1")
    result = subprocess.run([sys.executable, "-c", _IMPORT_WITH_FAKE_KERAS], capture_output=True, text=True, timeout=60, check=False)
    if skip:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1
        assert "UnsupportedVersionError: keras-minibatch was not checked with this version: keras 3.16.0 is installed; supported: keras>=3.3,<3.16" in result.stderr


def test_importing_compat_loads_none_of_the_libraries():
    probe = (
        "import sys, keras_minibatch.compat, keras_minibatch.tuning.oracle_address, keras_minibatch.tuning.search_config; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'keras_tuner', 'grpc'}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_standard_library_modules_of_the_cli_do_not_import_compat():
    probe = "import sys, keras_minibatch.tuning.oracle_address, keras_minibatch.tuning.search_config; print('keras_minibatch.compat' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "False", result.stderr


def test_no_library_module_but_compat_reaches_into_keras_src_or_keras_tuner_src():
    private = re.compile(r"\b(keras|keras_tuner)\.src\b")
    holders = sorted(
        f"{path.relative_to(LIBRARY)}: {line.strip()}" for path in LIBRARY.rglob("*.py") if path.name != "compat.py"
        for line in path.read_text().splitlines() if private.search(line) and not line.strip().startswith("#")
    )
    assert holders == []
