"""The code policy: honest submissions (the given code, the solutions, the bank, the book's style) pass; reflection
and code that runs at import are named by file, line and construct."""

from __future__ import annotations

import ast
import collections
import re
import textwrap
import types
from pathlib import Path

import pytest

from grader import rubric
from grader.engine import code_policy
from grader.engine.code_policy import check_file, check_files

from . import bank, submissions


def _folder(root: Path) -> dict[str, bytes]:
    """A submission folder as ``check_files`` takes it. The students' own test file is left out: the grader
    never imports it (it imports pytest and the kit's plugin, as it should)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.py"))
            if "__pycache__" not in p.parts and not p.name.startswith("test_")}


def _messages(found: dict[str, list[code_policy.Violation]]) -> list[str]:
    return [v.describe() for violations in found.values() for v in violations]


def _constructs(source: str, path: str = "mlp.py") -> list[tuple[str, int]]:
    return [(v.construct, v.line) for v in check_file(path, textwrap.dedent(source).encode())]


# --- honest code passes --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("folder", ["exercises", "solutions"])
def test_released_exercises_and_solutions_pass(kit, folder):
    files = _folder(kit / folder)
    assert {"linear_regression.py", "softmax_regression.py", "mlp.py", "weight_decay.py", "__init__.py"} <= set(files)
    assert _messages(check_files(files)) == []


def test_the_given_code_passes_through_the_baseline_only_in_its_own_module(kit):
    """``from grader.data.datasets import load_digits`` is released in softmax_regression.py, nowhere else."""
    line = "from grader.data.datasets import load_digits\n"
    assert _constructs(line, "softmax_regression.py") == []
    assert _constructs(line, "mlp.py") == [("import grader.data.datasets", 1)]
    assert _constructs(line, "helpers/util.py") == [("import grader.data.datasets", 1)]


def test_positions_and_comments_do_not_change_a_statements_digest():
    one = "def f(x):\n    return x + 1\n"
    two = "\n\n# moved and commented\ndef f(x):   # same code\n    return (x + 1)\n"
    first, second = (ast.parse(text).body[0] for text in (one, two))
    assert code_policy.canonical_dump(first) == code_policy.canonical_dump(second)


@pytest.mark.parametrize("entry", bank.entries(), ids=[e.name for e in bank.entries()])
def test_every_bank_entry_passes_spliced_into_the_solutions(entry, tmp_path):
    """The bank's correct alternatives and known mistakes, as ``tests/bank.py`` writes them for ``grade batch``."""
    folder = bank.write_submission(entry, tmp_path / entry.name)
    assert _messages(check_files(_folder(folder))) == []


def test_library_shortcuts_are_left_to_the_shortcut_scan():
    """Using jax.nn.softmax inside softmax costs the function (tests/test_shortcuts.py), but it is no reflection:
    the bank entries that do so are among those that pass above."""
    outright = {e.function for e in bank.entries() if e.says == "solves the exercise outright"}
    assert outright == {"softmax", "cross_entropy", "sgd", "relu", "l2_penalty"}


BOOK_STYLE = {
    "data_iter": """
        num_examples = len(features)
        indices = list(range(num_examples))
        # The book shuffles with random.shuffle; here the key given decides the order.
        indices = jax.random.permutation(key, jnp.array(indices))
        for i in range(0, num_examples, batch_size):
            batch_indices = jnp.array(indices[i: min(i + batch_size, num_examples)])
            yield features[batch_indices], labels[batch_indices]
    """,
    "softmax": """
        X_exp = jnp.exp(X)
        partition = X_exp.sum(1, keepdims=True)
        return X_exp / partition  # The broadcasting mechanism is applied here
    """,
    "cross_entropy": "return -jnp.log(y_hat[jnp.arange(len(y_hat)), y])",
    "sgd": """
        \"\"\"Minibatch stochastic gradient descent.\"\"\"
        return jax.tree_util.tree_map(lambda param, grad: param - lr * grad / batch_size, params, grads)
    """,
    "relu": """
        a = jnp.zeros_like(X)
        return jnp.maximum(X, a)
    """,
    "l2_penalty": "return jnp.sum(w**2) / 2",
}


BOOK_LITERAL_DATA_ITER = """
    import random
    num_examples = len(features)
    indices = list(range(num_examples))
    # The examples are read at random, in no particular order
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = jnp.array(indices[i: min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]
"""


def test_book_literal_data_iter_passes(tmp_path):
    """The book's data_iter word for word (Python's random.shuffle, the key unused): a scoring matter, not
    reflection."""
    folder = submissions.make(tmp_path / "book", bodies={"data_iter": BOOK_LITERAL_DATA_ITER})
    assert _messages(check_files(_folder(folder))) == []


def test_book_style_submission_passes(tmp_path):
    """The d2l book's chapter 3 and 4 code, carried over to JAX as literally as it goes."""
    folder = submissions.make(tmp_path / "book", bodies=BOOK_STYLE)
    text = (folder / "softmax_regression.py").read_text()
    (folder / "softmax_regression.py").write_text(text.replace("def cross_entropy(logits, y):",
                                                               "def cross_entropy(y_hat, y):"))
    assert _messages(check_files(_folder(folder))) == []


ALLOWED = {
    "constants": """
        import math
        import jax
        import jax.numpy as jnp
        import numpy as np
        LR = 0.1 * 3
        SHAPE = (2, -3)
        NAMES = {"a": [1, 2], "b": None}
        W = jnp.array([1.0, 2.0])
        TRUE_W = (2.0, -3.4)
        W2 = jnp.asarray(TRUE_W, dtype=jnp.float32).reshape((-1, 1))[0]
        EPS = np.float32(1e-4) + math.sqrt(2)
        softmax_ref = jax.nn.softmax
        square = lambda x: x * x
        LABEL = f"lr={LR}"
        """,
    "library decorators": """
        import functools
        import jax
        from flax import nnx

        @jax.custom_jvp
        def f(x):
            return x

        @f.defjvp
        def f_jvp(primals, tangents):
            return primals[0], tangents[0]

        @functools.partial(jax.jit, static_argnums=(0,))
        def g(n, x):
            return x * n

        @nnx.jit
        def h(x):
            return x
        """,
    "an nnx module and a dataclass": """
        import dataclasses
        from flax import nnx

        @dataclasses.dataclass(frozen=True)
        class Config:
            \"\"\"Settings.\"\"\"
            lr: float = 0.1
            steps: int = 10

        class MLP(nnx.Module):
            size = 4

            def __init__(self, din, *, rngs):
                super().__init__()
                self.linear = nnx.Linear(din, self.size, rngs=rngs)
                self._calls = 0

            def __call__(self, x):
                self._calls += 1
                return self.linear(x)

            @property
            def width(self):
                return self.size

            def describe(self):
                return f"MLP of width {self.width}"

        class Deeper(MLP):
            pass

        class ShapeError(ValueError):
            \"\"\"A student's own error.\"\"\"
        """,
    "run-time code in functions": """
        import sys
        import numpy as np

        counter = 0

        def step(params, lr=0.1, *, scale=1):
            global counter
            counter += 1
            print("step", counter, file=sys.stderr)
            try:
                out = {k: v - lr for k, v in params.items()}
            except (TypeError, ValueError) as e:
                print(e.args)
                raise
            if type(params) is dict and hasattr(params, "items") and getattr(params, "keys", None):
                out = type(params)(out)
            with open("log.txt", "w") as f:
                f.write(type(params).__name__)
            data = np.load("weights.npy", allow_pickle=False)
            return out, data

        async def later(x):
            return await x

        def gen(n):
            yield from range(n)

        if __name__ == "__main__":
            print(step({"w": 1.0}), sys.argv[1:])
            sys.exit(0)
        """,
}


@pytest.mark.parametrize("source", ALLOWED.values(), ids=ALLOWED.keys())
def test_honest_constructs_pass(source):
    assert _constructs(source, "helpers.py") == []


def test_a_given_function_edited_within_the_rules_passes(kit):
    """An added print in train_ch3, or in train_scratch beside its released relative import."""
    text = (kit / "exercises" / "softmax_regression.py").read_text()
    text = text.replace("    X_test, y_test = test_data\n", "    X_test, y_test = test_data\n    print('training')\n")
    text = text.replace("    init_key, data_key = jax.random.split(jax.random.key(seed))\n",
                        "    print('seed', seed)\n    init_key, data_key = jax.random.split(jax.random.key(seed))\n", 1)
    assert text.count("print('") == 2
    assert check_file("softmax_regression.py", text.encode()) == []


def test_a_given_function_edited_against_the_rules_is_named(kit):
    text = (kit / "exercises" / "softmax_regression.py").read_text()
    text = text.replace("    X_test, y_test = test_data\n", "    import inspect\n    X_test, y_test = test_data\n")
    line = text.splitlines().index("    import inspect") + 1
    assert [(v.construct, v.line, v.reason) for v in check_file("softmax_regression.py", text.encode())] == [
        ("import inspect", line, code_policy.FOREIGN_IMPORT)]


# --- hostile code is named --------------------------------------------------------------------------------------

HOSTILE = {
    "sys.modules": ("""
        import sys

        def relu(X):
            return sys.modules["grader.engine.trusted"].relu(X)
        """, "sys.modules", 5),
    "gc": ("import gc\n\ndef relu(X):\n    return gc.get_objects()\n", "import gc", 1),
    "_getframe": ("import sys\n\ndef relu(X):\n    return sys._getframe(1)\n", "sys._getframe", 4),
    "__globals__": ("def relu(X):\n    return relu.__globals__\n", "the dunder attribute __globals__", 2),
    "__subclasses__": ("def relu(X):\n    return ().__class__.__base__.__subclasses__()\n",
                       "the dunder attribute __subclasses__", 2),
    "vars": ("import jax.numpy as jnp\n\ndef relu(X):\n    return vars(jnp)['maximum'](X, 0)\n", "vars", 4),
    "setattr": ("import jax.numpy as jnp\n\ndef relu(X):\n    setattr(jnp, 'exp', abs)\n", "setattr", 4),
    "patch at import": ("import jax.numpy as jnp\n\ndef f(x):\n    return x\n\njnp.exp = f\n",
                        "assignment to jnp.exp", 6),
    "patch in a function": ("import optax\n\ndef sgd(p, g, lr, n):\n    optax.sgd = None\n",
                            "assignment to optax.sgd", 4),
    "patch deeper": ("import jax\n\ndef relu(X):\n    del jax.nn.relu\n", "deletion of jax.nn.relu", 4),
    "getattr spelled out": ("def relu(X):\n    return getattr(X, '__di' + 'ct__')\n", "getattr with a computed name",
                            2),
    "getattr by variable": ("def relu(X, name='shape'):\n    return getattr(X, name)\n",
                            "getattr with a computed name", 2),
    "getattr of a dunder": ("def relu(X):\n    return getattr(relu, '__globals__')\n",
                            "the dunder attribute __globals__", 2),
    "getattr as a value": ("def relu(X):\n    return list(map(getattr, [X], ['T']))\n", "getattr as a value", 2),
    "own decorator": ("def register(f):\n    return f\n\n\n@register\ndef relu(X):\n    return X\n",
                      "a decorator that is not a library's (register)", 5),
    "default argument": ("def steal():\n    return 1\n\n\ndef softmax(X, _=steal()):\n    return X\n",
                         "a default value that is not a constant (steal())", 5),
    "class body call": ("class Hook:\n    token = print('hi')\n",
                        "an assignment of a computed value (print('hi')) in the body of class Hook", 2),
    "module __getattr__": ("def __getattr__(name):\n    return name\n", "the module-level function __getattr__", 1),
    "importlib": ("import importlib\n", "import importlib", 1),
    "meta_path": ("import sys\n\n\nclass Finder:\n    pass\n\n\nsys.meta_path.insert(0, Finder())\n", "sys.meta_path",
                  8),
    "ctypes": ("import ctypes\n", "import ctypes", 1),
    "threading": ("import threading\n", "import threading", 1),
    "from threading": ("from threading import Thread\n", "import threading", 1),
    "_thread": ("import _thread\n", "import _thread", 1),
    "signal": ("import signal\n", "import signal", 1),
    "atexit": ("import atexit\n", "import atexit", 1),
    "os": ("def relu(X):\n    import os\n    return X\n", "import os", 2),
    "settrace": ("import sys\n\ndef relu(X):\n    sys.settrace(None)\n    return X\n", "sys.settrace", 4),
    "exec": ("def relu(X):\n    exec('y = 1')\n", "exec", 2),
    "eval": ("def relu(X):\n    return eval('X')\n", "eval", 2),
    "compile": ("def relu(X):\n    return compile('1', 'f', 'eval')\n", "compile", 2),
    "__import__": ("def relu(X):\n    return __import__('gc')\n", "__import__", 2),
    "the kit": ("from grader.engine import trusted\n", "import grader.engine", 1),
    "the solutions": ("import solutions.mlp\n", "import solutions.mlp", 1),
    "traceback": ("""
        def relu(X):
            try:
                raise ValueError
            except ValueError as e:
                return e.__traceback__.tb_frame.f_back
        """, "the dunder attribute __traceback__", 6),
    "frame attribute": ("def relu(X):\n    g = (i for i in X)\n    return g.gi_frame\n", "the frame attribute gi_frame",
                        3),
    "print at import": ("import jax.numpy as jnp\n\nprint('loaded')\n", "a call at module level", 3),
    "loop at import": ("for i in range(3):\n    pass\n", "a for loop at module level", 1),
    "computed value at import": ("import jax\nKEY = jax.random.key(0)\n",
                                 "an assignment of a computed value (jax.random.key(0)) at module level", 2),
    "try at import": ("try:\n    import numpy\nexcept ImportError:\n    pass\n", "a try statement at module level", 1),
    "if at import": ("if True:\n    X = 1\n", "an if statement at module level", 1),
    "else of the main guard": ("if __name__ == '__main__':\n    pass\nelse:\n    print('imported')\n",
                               "a call at module level", 4),
    "__del__": ("class Spy:\n    def __del__(self):\n        pass\n", "the method __del__", 2),
    "__eq__": ("class Liar:\n    def __eq__(self, other):\n        return True\n", "the method __eq__", 2),
    "library namespaces hold sys": ("import dataclasses\n\ndef relu(X):\n    return dataclasses.sys.modules\n",
                                    "the attribute sys", 4),
    "a jax alias of operator": ("import jax\n\ndef relu(X):\n    return jax.util.op.attrgetter('x')(X)\n",
                                "the attribute op", 4),
    "from sys import modules": ("from sys import modules\n", "sys.modules", 1),
    "sys as a value": ("import sys\n\ndef relu(X):\n    s = sys\n    return s.modules\n",
                       "sys (the sys module) as a value", 4),
    "private jax": ("import jax\n\ndef relu(X):\n    return jax._src.nn.functions.relu(X)\n",
                    "the private attribute _src", 4),
    "private import": ("from jax._src.nn import functions\n", "jax._src.nn", 1),
    "stride tricks": ("import numpy as np\n\ndef relu(X):\n    return np.lib.stride_tricks.as_strided(X)\n",
                      "the attribute stride_tricks", 4),
    "relative import": ("from .linear_regression import data_iter\n", "import from .linear_regression", 1),
    "own module": ("from linear_regression import sgd\n", "import linear_regression", 1),
    "exercises package": ("from exercises.linear_regression import sgd\n", "import exercises.linear_regression", 1),
    "star import": ("from numpy import *\n", "from numpy import *", 1),
    "type with three arguments": ("def relu(X):\n    return type('C', (), {})\n", "type() with more than one argument",
                                  2),
    "type(...) kept": ("def relu(X):\n    t = type(type(X))\n    return t('C', (), {})\n", "type(...) as a value", 2),
    "metaclass": ("import abc\n", "import abc", 1),
    "metaclass keyword": ("import typing\n\nclass A(metaclass=typing.NamedTupleMeta):\n    pass\n",
                          "the class keyword metaclass=", 3),
    "foreign base": ("class A(dict):\n    pass\n", "a base class that is not a library's (dict)", 1),
    "global of an import": ("import jax.numpy as jnp\n\ndef relu(X):\n    global jnp\n    jnp = None\n",
                            "global jnp, an imported name", 4),
    "rebound import": ("import jax\n\nclass jax:\n    jit = staticmethod(print)\n", "rebinding the imported name jax",
                       3),
    "a method handed a module as self": ("""
        import jax.numpy as jnp

        class Model:
            def reset(self, value):
                self.exp = value

        def relu(X):
            Model.reset(jnp, abs)
        """, "assignment to self.exp", 6),
    "a method's private read": ("class Model:\n    def peek(self):\n        return self._src\n",
                                "the private attribute _src", 3),
    "self rebound in __init__": ("""
        import jax

        class Model:
            def __init__(self):
                self = jax
                self.numpy = None
        """, "assignment to self.numpy", 7),
    "a decorated __call__": ("""
        class Model:
            @staticmethod
            def __call__(self, value):
                self.exp = value
        """, "assignment to self.exp", 5),
    "__builtins__": ("def relu(X):\n    return __builtins__['exec']\n", "the name __builtins__", 2),
    "allow_pickle": ("import numpy as np\n\ndef relu(X):\n    return np.load('w.npy', allow_pickle=True)\n",
                     "allow_pickle", 4),
    "get_type_hints": ("from typing import get_type_hints\n", "typing.get_type_hints", 1),
    "a library calling the file's function at import": (
        "import numpy as np\n\ndef f(i):\n    return i\n\nX = np.fromfunction(f, (2,))\n",
        "an assignment of a computed value (np.fromfunction(f, (2,))) at module level", 6),
    "... through an alias": (
        "import numpy as np\n\ndef f(i):\n    return i\n\ng = [f]\nX = np.fromfunction(g[0], (2,))\n",
        "an assignment of a computed value (np.fromfunction(g[0], (2,))) at module level", 7),
    "... or a lambda": ("import numpy as np\nX = np.fromfunction(lambda i: i, (2,))\n",
                        "an assignment of a computed value (np.fromfunction(lambda i: i, (2,))) at module level", 2),
    "a decorator given the file's function": (
        "import functools\n\ndef spy(f):\n    return f\n\n@functools.partial(spy)\ndef relu(X):\n    return X\n",
        "a decorator that is not a library's (functools.partial(spy))", 6),
    "annotation at import": ("def relu(X: print('hi')):\n    return X\n",
                             "an annotation that is not a type (print('hi'))", 1),
    "string annotation that nnx evaluates": ("""
        from flax import nnx

        class Model(nnx.Module):
            hook: "__import__('gc').get_objects()"
        """, 'a string annotation ("__import__(\'gc\').get_objects()")', 5),
    "string annotation in a function": ("def relu(X) -> 'X':\n    y: 'int' = 1\n    return X\n",
                                        "a string annotation ('int')", 2),
    "match reads an attribute": ("""
        def relu(X):
            match relu:
                case object(__globals__=g):
                    return g
        """, "the dunder attribute __globals__", 4),
}


@pytest.mark.parametrize("source,construct,line", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_construct_is_named_with_its_line(source, construct, line):
    found = _constructs(source)
    assert (construct, line) in found, found


def test_the_message_names_file_line_construct_and_reason():
    source = b"import sys\n\ndef relu(X):\n    return sys.modules\n"
    [violation] = check_files({"mlp.py": source})["mlp.py"]
    assert violation == code_policy.Violation("mlp.py", 4, "sys.modules", code_policy.REFLECTION)
    assert violation.describe() == "mlp.py, line 4: sys.modules — reflection is not allowed in submitted code"


def test_each_construct_is_reported_once_per_line():
    found = _constructs("import sys\n\ndef relu(X):\n    return sys.modules, sys.modules\n")
    assert found == [("sys.modules", 4)]


def test_only_files_with_violations_are_reported(kit):
    files = _folder(kit / "solutions") | {"helpers.py": b"import gc\n", "pkg/util.py": b"X = 1\n"}
    found = check_files(files)
    assert list(found) == ["helpers.py"]
    assert _messages(found) == ["helpers.py, line 1: import gc — an import outside the numerical libraries"]


def test_a_submission_file_shadowing_a_library_is_its_own_module():
    """With a typing.py of its own, ``import typing`` would load the student's file."""
    found = check_files({"typing.py": b"X = 1\n", "mlp.py": b"import typing\n"})
    assert _messages(found) == ["mlp.py, line 1: import typing — submitted files may not import one another"]


def test_files_that_cannot_be_read_are_left_to_the_import_but_a_huge_one_fails_closed():
    assert check_file("mlp.py", b"def relu(X)\n    return X\n") == []
    assert check_file("mlp.py", b"# coding: no-such-codec\nimport gc\n") == []
    assert check_file("mlp.py", b"\xff\xfe not utf-8\n") == []
    huge = b"#" * (code_policy.MAX_SOURCE_BYTES + 1)
    [violation] = check_file("mlp.py", huge)
    assert (violation.line, violation.reason) == (1, code_policy.TOO_LARGE)
    assert "1,000,001 bytes" in violation.construct


def test_source_is_decoded_by_its_coding_cookie():
    source = "# -*- coding: latin-1 -*-\nNAME = 'café'\nimport gc\n".encode("latin-1")
    assert [(v.construct, v.line) for v in check_file("mlp.py", source)] == [("import gc", 3)]


def test_deeply_nested_code_fails_closed():
    source = "def relu(X):\n    return " + "(" * 90 + "X" + ")" * 90 + "\n"
    assert check_file("mlp.py", source.encode()) == []
    deep = "def relu(X):\n    return " + " + ".join(["X"] * 1000) + "\n"
    assert [(v.construct, v.reason) for v in check_file("mlp.py", deep.encode())] == [
        ("code nested too deeply to check", code_policy.TOO_DEEP)]


# --- the baseline --------------------------------------------------------------------------------------------------

def test_the_baseline_holds_the_released_modules(kit):
    released = code_policy._released()
    assert set(released) == {"autograd", "linear_regression", "mlp", "polynomial", "softmax_regression",
                             "weight_decay"}
    assert set(rubric.STUDENT_FUNCTIONS.values()) <= set(released)
    assert all(entry["statements"] for entry in released.values())


# --- what the libraries hold under the names the policy allows ---------------------------------------------------

# Modules and objects that reflect, import by name, evaluate strings, unpickle, build classes or code, or run
# processes: none may be reachable through a chain of attribute names that the policy lets through.
DANGEROUS_MODULES = {"sys", "os", "posix", "gc", "inspect", "builtins", "importlib", "importlib_resources", "types",
                     "ctypes", "_ctypes", "operator", "_operator", "threading", "_thread", "subprocess", "signal",
                     "atexit", "traceback", "code", "codeop", "runpy", "pkgutil", "pickle", "_pickle", "marshal",
                     "unittest", "pdb", "bdb", "string", "typing_extensions", "yaml", "cloudpickle", "dill",
                     "multiprocessing", "asyncio", "zipimport", "pydoc", "_imp", "faulthandler", "tracemalloc"}


def _dangerous_objects() -> dict[int, str]:
    import builtins
    import dataclasses
    import functools
    import importlib
    import logging.config
    import operator
    import string
    import sys
    import typing

    import jax.tree_util

    named = {"type": type, "getattr": getattr, "setattr": setattr, "delattr": delattr, "vars": vars,
             "globals": globals, "locals": locals, "dir": dir, "exec": exec, "eval": eval, "compile": compile,
             "__import__": __import__, "breakpoint": breakpoint, "sys.modules": sys.modules,
             "builtins.__dict__": builtins.__dict__, "attrgetter": operator.attrgetter,
             "methodcaller": operator.methodcaller, "get_type_hints": typing.get_type_hints,
             "singledispatch": functools.singledispatch, "update_wrapper": functools.update_wrapper,
             "make_dataclass": dataclasses.make_dataclass, "register_dataclass": jax.tree_util.register_dataclass,
             "FunctionType": types.FunctionType, "CodeType": types.CodeType, "new_class": types.new_class,
             "import_module": importlib.import_module, "Formatter": string.Formatter,
             "fileConfig": logging.config.fileConfig, "dictConfig": logging.config.dictConfig,
             "currentframe": logging.currentframe}
    return {id(value): name for name, value in named.items()}


def _is_dangerous(value, objects: dict[int, str]) -> bool:
    if isinstance(value, types.ModuleType):
        return value.__name__.partition(".")[0] in DANGEROUS_MODULES or value.__name__ == "logging.config"
    if id(value) in objects:
        return True
    if isinstance(value, type) and issubclass(value, type):  # a metaclass builds classes, like type(...)
        return True
    return isinstance(value, types.GenericAlias) and value.__origin__ is type


SCALARS = (int, float, complex, str, bytes, bool, type(None))


def test_no_allowed_attribute_chain_leads_from_the_libraries_to_reflection():
    """Walk what the importable libraries hold under attribute names the policy allows (public, not blocked):
    every module reachable so, and the classes, functions and objects in them two steps deep. None of it is
    something dangerous. The libraries' namespaces hold many standard modules (``dataclasses.sys``, a jax module's
    ``op``, the ``mock`` of a path library's testing helpers); when an upgrade exposes a new one, this names it
    and the path to it."""
    import sys
    import warnings

    import flax.nnx  # noqa: F401 (the walk starts from the loaded libraries)
    import jax.numpy  # noqa: F401
    import optax  # noqa: F401

    objects = _dangerous_objects()
    roots = [name for name in code_policy.LIBRARIES if name not in ("sys", "__future__")]
    for name in roots:
        __import__(name)
    seen = {id(sys.modules[name]) for name in roots}
    queue = collections.deque((sys.modules[name], name, 0) for name in roots)
    reached, modules = {}, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated attributes warn when read
        while queue:
            holder, path, depth = queue.popleft()
            modules += isinstance(holder, types.ModuleType)
            try:
                attributes = dir(holder)
            except Exception:
                continue
            for attribute in attributes:
                if code_policy._attribute_problem(attribute):
                    continue
                try:
                    value = getattr(holder, attribute)
                except Exception:  # a lazy attribute that fails to load
                    continue
                if _is_dangerous(value, objects):
                    reached.setdefault(attribute, f"{path}.{attribute}")
                elif id(value) not in seen and not isinstance(value, SCALARS):
                    seen.add(id(value))
                    steps = depth if isinstance(value, types.ModuleType) else depth + 1
                    if steps <= 2:
                        queue.append((value, f"{path}.{attribute}", steps))
    assert reached == {}, f"block these attribute names in code_policy.BLOCKED_ATTRIBUTES: {reached}"
    assert modules > 100  # the walk did go through the libraries


def test_sys_attributes_allowed_are_plain_values():
    import sys
    for name in code_policy.SYS_ALLOWED:
        assert not isinstance(getattr(sys, name), types.ModuleType)
    assert not re.search(r"modules|path|trace|hook|frame", " ".join(code_policy.SYS_ALLOWED))
