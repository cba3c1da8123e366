"""Loading the six student functions from a directory laid out like ``exercises/``.

Each directory is imported as a package under a private alias, so relative imports between its modules work
and two submissions (or a submission and the reference) never share module objects. Anything that goes
wrong is kept as a message per function instead of raised: a module that does not compile costs only the
functions that live in it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import itertools
import sys
import types
from pathlib import Path
from typing import Callable

from grader.engine.guard import own_function
from grader.engine.student_errors import describe_exception, register_submission
from grader.rubric import STUDENT_FUNCTIONS

# How each function is called by the checks; a signature that cannot take these arguments is reported.
CALL_ARITY = {"data_iter": 4, "softmax": 1, "cross_entropy": 2, "sgd": 4, "relu": 1, "l2_penalty": 1}
PARAMETER_NAMES = {
    "data_iter": "batch_size, features, labels, key", "softmax": "X", "cross_entropy": "logits, y",
    "sgd": "params, grads, lr, batch_size", "relu": "X", "l2_penalty": "w",
}

_counter = itertools.count()


def _package_alias(directory: Path) -> str:
    digest = hashlib.sha1(str(directory).encode()).hexdigest()[:10]
    return f"_submission_{digest}_{next(_counter)}"


def _import_package(directory: Path) -> str:
    alias = _package_alias(directory)
    init = directory / "__init__.py"
    if init.exists():
        spec = importlib.util.spec_from_file_location(alias, init, submodule_search_locations=[str(directory)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[alias] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:  # a broken __init__ must not stop the modules from loading
            package = types.ModuleType(alias)
            package.__path__ = [str(directory)]
            sys.modules[alias] = package
    else:
        package = types.ModuleType(alias)
        package.__path__ = [str(directory)]
        sys.modules[alias] = package
    return alias


def _import_module(alias: str, directory: Path, module: str):
    """Import ``module`` from the package; return (module, None) or (None, message)."""
    path = directory / f"{module}.py"
    if not path.exists():
        return None, f"{module}.py is missing from the submission"
    try:
        return importlib.import_module(f"{alias}.{module}"), None
    except SyntaxError as exc:
        return None, f"{module}.py has a syntax error on line {exc.lineno}: {exc.msg}"
    except SystemExit as exc:
        return None, f"importing {module}.py called exit({exc.code}): keep scripts under `if __name__ == '__main__':`"
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return None, f"importing {module}.py raised {describe_exception(exc)}"


def _signature_problem(name: str, fn: Callable) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(*range(CALL_ARITY[name]))
    except TypeError:
        return f"{name}{sig} cannot be called as {name}({PARAMETER_NAMES[name]})"
    return None


def _kind(fn) -> str:
    module, name = getattr(type(fn), "__module__", "?"), type(fn).__qualname__
    return f"a {name}" if module == "builtins" else f"a {module}.{name}"


def load_functions(directory: str | Path, broken: dict[str, str] | None = None,
                   on_import: Callable[[str], None] | None = None) -> tuple[dict[str, Callable], dict[str, str]]:
    """Import the student functions from ``directory``.

    Returns ``(functions, errors)``: every name of the six is in exactly one of the two dicts, ``errors``
    holding a message for a student (missing file, syntax error, missing function, wrong signature).
    ``broken`` maps modules not to import to the message their functions get (a module whose import hung in
    an earlier attempt); ``on_import(module)`` is called before each import.
    """
    broken = broken or {}
    directory = Path(directory).resolve()
    functions: dict[str, Callable] = {}
    errors: dict[str, str] = {}
    if not directory.is_dir():
        return {}, {name: f"{directory} is not a directory" for name in STUDENT_FUNCTIONS}
    register_submission(str(directory))  # errors raised in its files name the file and line
    alias = _import_package(directory)
    modules: dict[str, tuple] = {}
    for name, module in STUDENT_FUNCTIONS.items():
        if module not in modules:
            if module in broken:
                modules[module] = (None, broken[module])
            else:
                if on_import:
                    on_import(module)
                modules[module] = _import_module(alias, directory, module)
        mod, problem = modules[module]
        if problem:
            errors[name] = problem
            continue
        fn = getattr(mod, name, None)
        if fn is None:
            errors[name] = f"{module}.py has no function named {name}"
        elif not callable(fn):
            errors[name] = f"{name} in {module}.py is a {type(fn).__name__}, not a function"
        elif own_function(fn, str(directory)) is None:
            errors[name] = (f"{name} in {module}.py is not a function defined in the submission's own files "
                            f"({_kind(fn)}): write it with def")
        elif (problem := _signature_problem(name, fn)):
            errors[name] = problem
        else:
            functions[name] = fn
    return functions, errors
