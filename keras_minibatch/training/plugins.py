"""User callbacks named by import path: `package.module:ClassName(key=value, ...)`.

The spec is parsed with `ast` (no `eval`): keyword arguments must be Python
literals. Parsing is standard library only, so the CLI checks the syntax before
TensorFlow is imported; importing and constructing happen later, in
`load_callback`. A plug-in that raises during training is named by
`CallbackFailedError`, its traceback kept in a file (`plugin_failures_named`).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib
import re
import traceback
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keras_minibatch.run_folders import rundir

_SPEC_PATTERN = re.compile(r"^\s*(?P<module>[A-Za-z_][\w.]*)\s*:\s*(?P<call>[A-Za-z_]\w*(\s*\(.*\))?)\s*$", re.DOTALL)


class CallbackSpecError(ValueError):
    """A `--callbacks` entry that cannot be parsed, imported or constructed."""


class CallbackFailedError(RuntimeError):
    """A `--callbacks` plug-in raised during training; the message names it, its error and its traceback's file."""


# id(callback) -> (a weak reference to it, its spec) for every plug-in this process loaded:
# weak, so a search's plug-ins (and the models they hold) go with their trial; keyed by id,
# since a user's class may be unhashable.
_loaded: dict[int, tuple[weakref.ref, str]] = {}


@dataclasses.dataclass(frozen=True)
class CallbackSpec:
    """A parsed callback spec.

    Args:
        module: Dotted module path, e.g. `"my_project.callbacks"`.
        class_name: Name of the callback class in that module.
        kwargs: Keyword arguments for the constructor (Python literals).
    """

    module: str
    class_name: str
    kwargs: dict[str, Any]


def parse_callback_spec(spec: str) -> CallbackSpec:
    """Parses `"package.module:ClassName(key=value, ...)"` (the call part is optional).

    Raises:
        CallbackSpecError: naming the spec and the expected form.
    """
    expected = "expected 'package.module:ClassName' or 'package.module:ClassName(key=value, ...)' with literal values"
    match = _SPEC_PATTERN.match(spec)
    if not match:
        raise CallbackSpecError(f"--callbacks entry {spec!r} is malformed; {expected}.")
    call_text = match.group("call")
    try:
        node = ast.parse(call_text, mode="eval").body
    except SyntaxError as error:
        raise CallbackSpecError(f"--callbacks entry {spec!r} is malformed ({error.msg}); {expected}.") from None
    if isinstance(node, ast.Name):
        return CallbackSpec(match.group("module"), node.id, {})
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
        raise CallbackSpecError(f"--callbacks entry {spec!r} must use keyword arguments only; {expected}.")
    kwargs: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise CallbackSpecError(f"--callbacks entry {spec!r} uses **kwargs; {expected}.")
        try:
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            raise CallbackSpecError(
                f"--callbacks entry {spec!r}: the value of {keyword.arg!r} is not a literal "
                "(use numbers, quoted strings, True/False/None, lists or dicts)."
            ) from None
    return CallbackSpec(match.group("module"), node.func.id, kwargs)


def load_callback(spec: str | CallbackSpec) -> Any:
    """Imports and constructs the callback named by `spec`.

    Returns:
        The constructed callback (a `keras.callbacks.Callback`).

    Raises:
        CallbackSpecError: when the import, the lookup or the construction fails, or
            the object is not a Keras callback; the message names the spec and the cause.
    """
    import keras  # Deferred: parsing specs must not import TensorFlow.

    parsed = parse_callback_spec(spec) if isinstance(spec, str) else spec
    where = f"{parsed.module}:{parsed.class_name}"
    try:
        module = importlib.import_module(parsed.module)
    except ImportError as error:
        raise CallbackSpecError(f"--callbacks {where}: cannot import module {parsed.module!r} ({error}); is it on PYTHONPATH?") from error
    except SystemExit as error:  # A script run on import; it must not end keras-minibatch without a word.
        raise CallbackSpecError(f"--callbacks {where}: importing module {parsed.module!r} called sys.exit({error.code!r}); a callback module must not exit on import.") from error
    except Exception as error:  # The user's module may raise anything at import; report it in one line.
        raise CallbackSpecError(f"--callbacks {where}: importing module {parsed.module!r} failed: {type(error).__name__}: {error}") from error
    callback_class = getattr(module, parsed.class_name, None)
    if callback_class is None:
        raise CallbackSpecError(f"--callbacks {where}: module {parsed.module!r} has no attribute {parsed.class_name!r}.")
    # Checked before it is called: `os:system(command=...)` must not run anything.
    if not (isinstance(callback_class, type) and issubclass(callback_class, keras.callbacks.Callback)):
        raise CallbackSpecError(f"--callbacks {where}: {parsed.class_name!r} is a {type(callback_class).__name__}, not a keras.callbacks.Callback subclass; nothing was called.")
    try:
        callback = callback_class(**parsed.kwargs)
    except Exception as error:  # The user's constructor may raise anything; report it in one line.
        raise CallbackSpecError(f"--callbacks {where}: constructing it failed: {type(error).__name__}: {error}") from error
    if not isinstance(callback, keras.callbacks.Callback):
        raise CallbackSpecError(f"--callbacks {where}: built a {type(callback).__name__}, not a keras.callbacks.Callback.")
    for key in [key for key, (reference, _) in _loaded.items() if reference() is None]:
        del _loaded[key]
    try:
        _loaded[id(callback)] = (weakref.ref(callback), spec if isinstance(spec, str) else where)
    except TypeError:  # A class with `__slots__` and no `__weakref__`: its errors stay unattributed.
        pass
    return callback


@contextlib.contextmanager
def plugin_failures_named(traceback_file: Path, *, plugins: bool) -> Iterator[None]:
    """Turns an exception a `--callbacks` plug-in raises in the block into `CallbackFailedError`.

    The plug-in is found by instance, in the traceback's frames, so our own
    callbacks of the same class are never blamed. Keras hides its own frames
    from tracebacks, which would hide a Keras callback used as a plug-in (or a
    hook a plug-in inherits), so that filtering is off inside the block.

    Args:
        traceback_file: Where the plug-in's traceback is written.
        plugins: Whether the training has plug-ins; without, the block runs as is.

    Raises:
        CallbackFailedError: naming the plug-in, its error and `traceback_file`.
    """
    if not plugins:
        yield
        return
    import keras  # Deferred: parsing specs must not import TensorFlow.

    filtering = keras.config.is_traceback_filtering_enabled()
    keras.config.disable_traceback_filtering()
    try:
        yield
    except Exception as error:
        spec = _raising_plugin(error)
        if spec is None:
            raise
        rundir.write_text_atomic(traceback_file, "".join(traceback.format_exception(error)))
        raise CallbackFailedError(
            f"--callbacks {spec} raised {type(error).__name__}: {error} (traceback in {str(traceback_file)!r}); "
            "the run folder keeps every completed epoch: fix the callback, then rerun the same command with --resume "
            "(or with --overwrite to start again)"
        ) from error
    finally:
        if filtering:
            keras.config.enable_traceback_filtering()


def _raising_plugin(error: Exception) -> str | None:
    """The spec of the loaded plug-in whose method is in `error`'s traceback, or `None`."""
    frame = error.__traceback__
    while frame is not None:
        owner = frame.tb_frame.f_locals.get("self")
        loaded = _loaded.get(id(owner))
        if loaded is not None and loaded[0]() is owner:
            return loaded[1]
        frame = frame.tb_next
    return None
