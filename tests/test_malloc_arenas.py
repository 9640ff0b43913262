"""The command line's cap on glibc's malloc arenas: applied where it can be, the user's own setting kept."""

import os
import platform
import subprocess
import sys

import pytest

from keras_minibatch.training.malloc_arenas import limit_malloc_arenas

# In a process of its own: the cap is process-wide.
APPLY = "from keras_minibatch.training.malloc_arenas import limit_malloc_arenas; print(limit_malloc_arenas())"


def applied(environment):
    result = subprocess.run([sys.executable, "-c", APPLY], capture_output=True, text=True, env=environment, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip() == "True"


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's arenas: Linux with glibc only")
def test_the_cap_is_applied_on_glibc():
    assert applied({key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"})


def test_a_users_malloc_arena_max_is_kept():
    assert not applied({**os.environ, "MALLOC_ARENA_MAX": "4"})


@pytest.mark.parametrize("max_arenas", [0, -1, 1.5, True])
def test_a_cap_below_one_arena_is_refused(max_arenas):
    with pytest.raises(ValueError, match="must be a whole number >= 1"):
        limit_malloc_arenas(max_arenas)
