"""Forbidden shortcuts are found in the source, through aliases, helpers in any file of the submission and
spelled-out lookups, and cost the function; what cannot be checked fails closed; review_flags only takes notes."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from grader import grading, rubric
from grader.engine import shortcuts

FORBIDDEN = rubric.FORBIDDEN_SHORTCUTS


def _find(source: str | bytes, function: str) -> list[str]:
    return shortcuts.find(source, function, FORBIDDEN[function])


def _write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return folder


# --- tricks that are caught, naming what they use ------------------------------------------------------------------

CAUGHT = {
    # plain calls, aliases and same-module helpers
    "attribute": ("import jax\ndef softmax(X):\n    return jax.nn.softmax(X)\n", "softmax", ["jax.nn.softmax"]),
    "from-import": ("from jax import nn\ndef softmax(X):\n    return nn.softmax(X, axis=-1)\n", "softmax",
                    ["jax.nn.softmax"]),
    "import-as": ("from jax.nn import relu as r\ndef relu(X):\n    return r(X)\n", "relu", ["jax.nn.relu"]),
    "helper": ("import optax as ox\ndef _h(p, g, lr):\n    return ox.sgd(lr)\ndef sgd(p, g, lr, b):\n"
               "    return _h(p, g, lr)\n", "sgd", ["optax.sgd"]),
    "losses": ("import optax\ndef l2_penalty(w):\n    return optax.losses.l2_loss(w).sum()\n", "l2_penalty",
               ["optax.losses.l2_loss"]),
    "log-softmax": ("import jax.nn\ndef cross_entropy(o, y):\n    return -jax.nn.log_softmax(o)[y]\n",
                    "cross_entropy", ["jax.nn.log_softmax"]),
    # getattr with a constant name
    "getattr-concat": ("import jax\ndef softmax(X):\n    return getattr(jax.nn, 'soft' + 'max')(X)\n", "softmax",
                       ["jax.nn.softmax"]),
    "getattr-fstring": ("import jax\ndef relu(X):\n    return getattr(jax.nn, f\"{'re'}lu\")(X)\n", "relu",
                        ["jax.nn.relu"]),
    "getattr-join": ("import jax\ndef relu(X):\n    return getattr(jax.nn, ''.join(['re', 'lu']))(X)\n", "relu",
                     ["jax.nn.relu"]),
    "getattr-module-constant": ("import jax\nNAME = 'relu'\ndef relu(X):\n    return getattr(jax.nn, NAME)(X)\n",
                                "relu", ["jax.nn.relu"]),
    "getattr-local-constant": ("import jax\ndef relu(X):\n    name = 're' + 'lu'\n"
                               "    return getattr(jax.nn, name)(X)\n",
                               "relu", ["jax.nn.relu"]),
    "getattr-default-constant": ("import jax\ndef relu(X, n='RELU'):\n    return getattr(jax.nn, n.lower())(X)\n",
                                 "relu", ["jax.nn.relu"]),
    "getattr-reversed": ("import jax\ndef relu(X):\n    return getattr(jax.nn, 'uler'[::-1])(X)\n", "relu",
                         ["jax.nn.relu"]),
    "getattr-format": ("import jax\ndef relu(X):\n    return getattr(jax.nn, '{}{}'.format('re', 'lu'))(X)\n",
                       "relu", ["jax.nn.relu"]),
    "getattr-percent": ("import jax\ndef relu(X):\n    return getattr(jax.nn, '%slu' % 're')(X)\n", "relu",
                        ["jax.nn.relu"]),
    "getattribute": ("import jax\ndef relu(X):\n    return jax.nn.__getattribute__('relu')(X)\n", "relu",
                     ["jax.nn.relu"]),
    "getattr-module": ("import jax\ndef relu(X):\n    return getattr(jax, 'nn').relu(X)\n", "relu", ["jax.nn.relu"]),
    "attrgetter": ("import jax, operator\ndef relu(X):\n    return operator.attrgetter('nn.relu')(jax)(X)\n", "relu",
                   ["jax.nn.relu"]),
    "vars": ("import jax\ndef relu(X):\n    return vars(jax.nn)['relu'](X)\n", "relu", ["jax.nn.relu"]),
    "dunder-dict": ("import jax\ndef relu(X):\n    return jax.nn.__dict__['relu'](X)\n", "relu", ["jax.nn.relu"]),
    "globals": ("import jax\n_r = jax.nn.relu\ndef relu(X):\n    return globals()['_r'](X)\n", "relu",
                ["jax.nn.relu"]),
    # importers
    "import-module": ("import importlib\ndef softmax(X):\n    return importlib.import_module('jax.nn').softmax(X)\n",
                      "softmax", ["jax.nn.softmax"]),
    "import-module-root": ("import importlib\ndef relu(X):\n    return importlib.import_module('jax').nn.relu(X)\n",
                           "relu", ["jax.nn.relu"]),
    "dunder-import-fromlist": ("def relu(X):\n    return __import__('jax.nn', fromlist=['relu']).relu(X)\n", "relu",
                               ["jax.nn.relu"]),
    "dunder-import": ("def relu(X):\n    return __import__('jax.nn').nn.relu(X)\n", "relu", ["jax.nn.relu"]),
    "import-module-alias": ("from importlib import import_module as im\nM = 'jax' + '.nn'\ndef relu(X):\n"
                            "    return im(M).relu(X)\n", "relu", ["jax.nn.relu"]),
    "sys-modules": ("import sys\ndef relu(X):\n    return sys.modules['jax.nn'].relu(X)\n", "relu", ["jax.nn.relu"]),
    # module-level aliases, defaults, classes, values that flow
    "module-alias": ("import jax\n_r = jax.nn.relu\ndef relu(X):\n    return _r(X)\n", "relu", ["jax.nn.relu"]),
    "module-alias-from": ("from jax import nn\n_r = nn.relu\ndef relu(X):\n    return _r(X)\n", "relu",
                          ["jax.nn.relu"]),
    "partial": ("import functools, jax\nf = functools.partial(jax.nn.relu)\ndef relu(X):\n    return f(X)\n", "relu",
                ["jax.nn.relu"]),
    "tuple-unpacking": ("import jax, jax.numpy as jnp\n_a, _r = jnp.abs, jax.nn.relu\ndef relu(X):\n"
                        "    return _r(X)\n", "relu", ["jax.nn.relu"]),
    "module-lambda": ("import jax\nr = lambda x: jax.nn.relu(x)\ndef relu(X):\n    return r(X)\n", "relu",
                      ["jax.nn.relu"]),
    "default-argument": ("import jax\ndef relu(X, f=jax.nn.relu):\n    return f(X)\n", "relu", ["jax.nn.relu"]),
    "default-module": ("import jax\ndef relu(X, m=jax.nn):\n    return m.relu(X)\n", "relu", ["jax.nn.relu"]),
    "staticmethod": ("import jax\nclass H:\n    @staticmethod\n    def r(x):\n        return jax.nn.relu(x)\n"
                     "def relu(X):\n    return H.r(X)\n", "relu", ["jax.nn.relu"]),
    "class-attribute": ("import jax\nclass H:\n    nn = jax.nn\ndef relu(X):\n    return H().nn.relu(X)\n", "relu",
                        ["jax.nn.relu"]),
    "local-alias": ("import jax\ndef relu(X):\n    m = jax.nn\n    return m.relu(X)\n", "relu", ["jax.nn.relu"]),
    "returned-module": ("import jax\ndef _m():\n    return jax.nn\ndef relu(X):\n    return _m().relu(X)\n", "relu",
                        ["jax.nn.relu"]),
    "container": ("import jax\nM = {'m': jax.nn}\ndef relu(X):\n    return M['m'].relu(X)\n", "relu",
                  ["jax.nn.relu"]),
    "jit-alias": ("import jax\nrelu = jax.jit(jax.nn.relu)\n", "relu", ["jax.nn.relu"]),
    "decorator": ("import jax\n@lambda f: jax.nn.relu\ndef relu(X):\n    return X\n", "relu", ["jax.nn.relu"]),
    "global-statement": ("import jax\ndef _setup():\n    global _r\n    _r = jax.nn.relu\ndef relu(X):\n"
                         "    return _r(X)\n", "relu", ["jax.nn.relu"]),
    "star-import": ("from jax.nn import *\ndef softmax(X):\n    return log_softmax(X)\n", "softmax",
                    ["jax.nn.log_softmax"]),
    "kept-before-redefinition": ("import jax\ndef softmax(X):\n    return jax.nn.softmax(X)\n_s = softmax\n"
                                 "def softmax(X):\n    return _s(X)\n", "softmax", ["jax.nn.softmax"]),
    # names added to the rubric
    "leaky-relu": ("import jax\ndef relu(X):\n    return jax.nn.leaky_relu(X, 0.0)\n", "relu", ["jax.nn.leaky_relu"]),
    "nnx-leaky-relu": ("from flax import nnx\ndef relu(X):\n    return nnx.leaky_relu(X, 0.0)\n", "relu",
                       ["flax.nnx.leaky_relu"]),
    "linen-leaky-relu": ("import flax.linen as nn\ndef relu(X):\n    return nn.leaky_relu(X, 0.0)\n", "relu",
                         ["flax.linen.leaky_relu"]),
    "scipy-log-softmax": ("import jax, jax.numpy as jnp\ndef softmax(X):\n"
                          "    return jnp.exp(jax.scipy.special.log_softmax(X))\n", "softmax",
                          ["jax.scipy.special.log_softmax"]),
    "nnx-log-softmax": ("from flax import nnx\ndef softmax(X):\n    return nnx.log_softmax(X)\n", "softmax",
                        ["flax.nnx.log_softmax"]),
    "ce-scipy-log-softmax": ("from jax.scipy import special\ndef cross_entropy(o, y):\n"
                             "    return -special.log_softmax(o)[y]\n", "cross_entropy",
                             ["jax.scipy.special.log_softmax"]),
    "ce-safe": ("import optax\ndef cross_entropy(o, y):\n    return optax.safe_softmax_cross_entropy(o, y)\n",
                "cross_entropy", ["optax.safe_softmax_cross_entropy"]),
    "ce-losses-safe": ("import optax\ndef cross_entropy(o, y):\n"
                       "    return optax.losses.safe_softmax_cross_entropy(o, y)\n", "cross_entropy",
                       ["optax.losses.safe_softmax_cross_entropy"]),
    "ce-integer-labels": ("from optax import losses\ndef cross_entropy(o, y):\n"
                          "    return losses.softmax_cross_entropy_with_integer_labels(o, y)\n", "cross_entropy",
                          ["optax.losses.softmax_cross_entropy_with_integer_labels"]),
    "ce-library-softmax": ("import jax, jax.numpy as jnp\ndef cross_entropy(o, y):\n"
                           "    return -jnp.log(jax.nn.softmax(o))[y]\n", "cross_entropy", ["jax.nn.softmax"]),
    # the grading kit, for every function
    "kit-softmax": ("def softmax(X):\n    from grader.engine.trusted import softmax\n    return softmax(X)\n",
                    "softmax", ["grader.engine.trusted.softmax"]),
    "kit-importlib": ("import importlib\ndef relu(X):\n"
                      "    return importlib.import_module('grader.engine.trusted').relu(X)\n",
                      "relu", ["grader.engine.trusted.relu"]),
    "kit-import-only": ("def relu(X):\n    import grader.checks.relu\n    return X * (X > 0)\n", "relu",
                        ["grader.checks.relu"]),
    "kit-data-iter": ("import grader.engine.trusted as t\ndef data_iter(b, X, y, key):\n"
                      "    return t.data_iter(b, X, y, key)\n",
                      "data_iter", ["grader.engine.trusted.data_iter"]),
    "kit-sgd": ("from grader.engine import trusted\ndef sgd(p, g, lr, b):\n    return trusted.sgd(p, g, lr, b)\n",
                "sgd", ["grader.engine.trusted.sgd"]),
    "kit-cross-entropy": ("import grader\ndef cross_entropy(o, y):\n"
                          "    return grader.engine.trusted.cross_entropy(o, y)\n",
                          "cross_entropy", ["grader.engine.trusted.cross_entropy"]),
    "kit-l2": ("def l2_penalty(w):\n    return __import__('grader.engine.trusted', fromlist=['x']).l2_penalty(w)\n",
               "l2_penalty", ["grader.engine.trusted.l2_penalty"]),
}


@pytest.mark.parametrize("source,function,expected", CAUGHT.values(), ids=CAUGHT.keys())
def test_trick_is_caught_and_named(source, function, expected):
    found = _find(source, function)
    assert found == expected
    text = shortcuts.message(function, found)
    assert all(name in text for name in expected)
    if expected[0].startswith("grader"):
        assert "importing the grading kit is not allowed" in text
    else:
        assert f"{function} calls {expected[0]}" in text and "solves the exercise outright" in text


def test_find_accepts_bytes():
    assert _find(b"import jax\ndef relu(X):\n    return jax.nn.relu(X)\n", "relu") == ["jax.nn.relu"]


# --- what cannot be checked fails closed ---------------------------------------------------------------------------

UNCHECKED = {
    "exec": ("def relu(X):\n    exec('y = X')\n    return X\n", "relu",
             "exec (code built at run time cannot be checked)"),
    "eval-in-helper": ("def _h(s, X):\n    return eval(s)\ndef relu(X):\n    return _h('X * (X > 0)', X)\n", "relu",
                       "eval (code built at run time cannot be checked)"),
    "compile": ("def softmax(X):\n    code = compile('1', 'x', 'eval')\n    return X\n", "softmax",
                "compile (code built at run time cannot be checked)"),
    "eval-alias": ("_e = eval\ndef relu(X):\n    return _e('X')\n", "relu", "eval (code built at run time"),
    "builtins-dict": ("def relu(X):\n    return __builtins__['eval']('X')\n", "relu", "eval (code built at run time"),
    "pickle": ("import pickle\ndef relu(X):\n    return pickle.loads(b'')(X)\n", "relu", "pickle.loads (code built"),
    "loader": ("import importlib.util\ndef relu(X):\n    s = importlib.util.spec_from_file_location('m', 'm.txt')\n"
               "    return X\n", "relu", "importlib.util.spec_from_file_location (code built at run time"),
    "computed-import": ("import importlib\ndef relu(X):\n    return importlib.import_module(input()).relu(X)\n", "relu",
                        "importlib.import_module (code built at run time cannot be checked)"),
    "computed-getattr": ("import jax\ndef relu(X):\n    return getattr(jax.nn, input())(X)\n", "relu",
                         "jax.nn.<computed name> (an attribute chosen at run time cannot be checked)"),
    "computed-getattr-chars": ("import jax\ndef relu(X):\n"
                               "    return getattr(jax.nn, ''.join(map(chr, [114, 101])))(X)\n",
                               "relu", "jax.nn.<computed name>"),
    "patched-library": ("import jax, jax.numpy as jnp\njnp.maximum = jax.nn.relu\ndef relu(X):\n"
                        "    return jnp.maximum(X, 0)\n", "relu",
                        "changes jax.numpy.maximum (a library changed at run time cannot be checked)"),
    "patched-by-setattr": ("import jax\ndef _setup():\n    setattr(jax.numpy, 'max' + 'imum', jax.nn.relu)\n"
                           "def relu(X):\n    return jax.numpy.maximum(X, 0)\n", "relu", "changes jax.numpy.maximum"),
    "patched-kit": ("import grader.rubric as r\nr.FORBIDDEN_SHORTCUTS['relu'] = ()\ndef relu(X):\n    return X\n",
                    "relu",
                    "changes grader.rubric.FORBIDDEN_SHORTCUTS.relu"),
}


@pytest.mark.parametrize("source,function,phrase", UNCHECKED.values(), ids=UNCHECKED.keys())
def test_what_cannot_be_checked_fails_closed(source, function, phrase):
    found = _find(source, function)
    assert any(phrase in label for label in found), found
    text = shortcuts.message(function, found)
    assert f"{function} cannot be checked for forbidden shortcuts" in text and phrase in text


# --- honest code is not flagged ------------------------------------------------------------------------------------

HONEST = {
    "maximum": ("import jax.numpy as jnp\ndef relu(X):\n    return jnp.maximum(X, 0)\n", "relu"),
    "where": ("import jax.numpy as jnp\ndef relu(X):\n    return jnp.where(X > 0, X, 0)\n", "relu"),
    "mask": ("def relu(X):\n    return X * (X > 0)\n", "relu"),
    "relu6-is-not-relu": ("import jax\ndef relu(X):\n    return jax.nn.relu6(X)\n", "relu"),
    "own-helper": ("import jax.numpy as jnp\ndef _pos(X):\n    return jnp.clip(X, 0)\n"
                   "def relu(X):\n    return _pos(X)\n",
                   "relu"),
    "logsumexp": ("import jax\ndef cross_entropy(o, y):\n    return jax.nn.logsumexp(o, -1) - o[y]\n", "cross_entropy"),
    "scipy-logsumexp": ("import jax, jax.numpy as jnp\ndef softmax(X):\n"
                        "    return jnp.exp(X - jax.scipy.special.logsumexp(X, axis=-1, keepdims=True))\n", "softmax"),
    "own-softmax": ("import jax.numpy as jnp\ndef softmax(X):\n    e = jnp.exp(X - X.max(-1, keepdims=True))\n"
                    "    return e / e.sum(-1, keepdims=True)\ndef cross_entropy(o, y):\n"
                    "    return -jnp.log(softmax(o))[jnp.arange(len(y)), y]\n", "cross_entropy"),
    "apply-updates": ("import jax, optax\ndef sgd(p, g, lr, b):\n"
                      "    return optax.apply_updates(p, jax.tree.map(lambda x: -lr * x / b, g))\n", "sgd"),
    "squared-error-is-left": ("import optax\ndef l2_penalty(w):\n    return optax.squared_error(w).sum() / 2\n",
                              "l2_penalty"),
    "forbidden-elsewhere": ("import jax\ndef relu(X):\n    return X * (X > 0)\ndef other(X):\n"
                            "    return jax.nn.relu(X)\n", "relu"),
    "plain-getattr": ("def relu(X):\n    return X * (X > 0) + 0 * getattr(X, 'size')\n", "relu"),
    "shadowed-builtin-names": ("def relu(X, eval=None, compile=None):\n    return X * (X > 0)\n", "relu"),
    "config-and-environ": ("import os, jax, jax.numpy as jnp\nos.environ['XLA_FLAGS'] = ''\n"
                           "jax.config.update('jax_enable_x64', False)\ndef relu(X):\n    return jnp.maximum(X, 0)\n",
                           "relu"),
    "notebook-redefinition": ("import jax, jax.numpy as jnp\ndef softmax(X):\n    return jax.nn.softmax(X)\n"
                              "def softmax(X):\n    e = jnp.exp(X - X.max())\n    return e / e.sum()\n", "softmax"),
    "notebook-cell-with-syntax-error": ("def softmax(X:\n", "softmax"),
    "syntax-error-beside-honest-code": ("import jax.numpy as jnp\ndef relu(X):\n    return jnp.maximum(X, 0)\n"
                                        "x = (\n", "relu"),
}


@pytest.mark.parametrize("source,function", HONEST.values(), ids=HONEST.keys())
def test_honest_code_is_not_flagged(source, function):
    assert _find(source, function) == []


def test_a_notebook_cell_with_a_syntax_error_does_not_hide_the_others():
    source = "import jax\ndef softmax(X):\n    return jax.nn.softmax(X)\nx = (\ndef other():\n    pass\n"
    assert _find(source, "softmax") == ["jax.nn.softmax"]


def test_undecodable_source_fails_closed():
    found = _find(b"# coding: no-such-codec\ndef relu(X):\n    return X\n", "relu")
    assert found and "the source could not be read as Python" in found[0]


# --- submissions on disk: helpers in other files ----------------------------------------------------------------

HELPERS = "import jax\n\ndef f(x):\n    return g(x)\n\ndef g(x):\n    return jax.nn.relu(x)\n"
OTHER_FILES = {
    "relative": {"mlp.py": "from .helpers import f\ndef relu(X):\n    return f(X)\n", "helpers.py": HELPERS},
    "absolute": {"mlp.py": "from helpers import f\ndef relu(X):\n    return f(X)\n", "helpers.py": HELPERS},
    "module": {"mlp.py": "import helpers\ndef relu(X):\n    return helpers.f(X)\n", "helpers.py": HELPERS},
    "star": {"mlp.py": "from .helpers import *\ndef relu(X):\n    return f(X)\n", "helpers.py": HELPERS},
    "star-after-definition": {"mlp.py": "def relu(X):\n    return X * (X > 0)\nfrom .helpers import *\n",
                              "helpers.py": "import jax\nrelu = jax.nn.relu\n"},
    "from-package": {"mlp.py": "from . import helpers\ndef relu(X):\n    return helpers.f(X)\n", "helpers.py": HELPERS},
    "subpackage": {"mlp.py": "from .pkg.inner import f\ndef relu(X):\n    return f(X)\n", "pkg/__init__.py": "",
                   "pkg/inner.py": HELPERS},
    "namespace-folder": {"mlp.py": "import tools.inner as t\ndef relu(X):\n    return t.f(X)\n",
                         "tools/inner.py": HELPERS},
    "package-reexport": {"mlp.py": "from .pkg import f\ndef relu(X):\n    return f(X)\n",
                         "pkg/__init__.py": "from .inner import f\n", "pkg/inner.py": HELPERS},
    "transitive-with-cycle": {"mlp.py": "from .a import f\ndef relu(X):\n    return f(X)\n",
                              "a.py": "from .b import g\nfrom .mlp import relu\n"
                                      "def f(x):\n    return g(x) if x else relu(x)\n",
                              "b.py": "from . import a\nfrom .helpers import f as h\n"
                                      "def g(x):\n    return h(x) or a.f(x)\n",
                              "helpers.py": HELPERS},
    "constant-from-file": {"mlp.py": "import jax\nfrom .names import NAME\n"
                                     "def relu(X):\n    return getattr(jax.nn, NAME)(X)\n",
                           "names.py": "NAME = 're' + 'lu'\n"},
    "module-getattr": {"mlp.py": "from .helpers import relu\n",
                       "helpers.py": "import jax\ndef __getattr__(name):\n    return getattr(jax.nn, name)\n"},
    "package-shadows-module": {"mlp.py": "def relu(X):\n    return X * (X > 0)\n",
                               "mlp/__init__.py": "import jax\nrelu = jax.nn.relu\n"},
}


@pytest.mark.parametrize("files", OTHER_FILES.values(), ids=OTHER_FILES.keys())
def test_helpers_in_other_files_are_followed(tmp_path, files):
    found = shortcuts.scan_directory(_write(tmp_path, files))
    assert set(found) == {"relu"}, found
    assert "relu calls jax.nn.relu" in found["relu"] or "jax.nn.<computed name>" in found["relu"]


def test_honest_helper_files_are_clean(tmp_path):
    _write(tmp_path, {
        "mlp.py": "from .util import positive\nimport util2\ndef relu(X):\n    return positive(X) + util2.zero(X)\n",
        "util.py": "import jax.numpy as jnp\ndef positive(X):\n    return jnp.maximum(X, 0)\n",
        "util2.py": "import jax\ndef zero(X):\n    return 0 * X\ndef unused(X):\n    return jax.nn.relu(X)\n",
        "notes.py": "this is not python (\n",
        "big_unused.py": "a = 1\n" * 200_000,
    })
    assert shortcuts.scan_directory(tmp_path) == {}


@pytest.mark.parametrize("files,phrase", [
    ({"mlp.py": "from .helpers import magic\ndef relu(X):\n    return magic(X)\n",
      "helpers.py": "exec('from jax.nn import relu as magic')\n"}, "magic, which helpers.py never defines"),
    ({"mlp.py": "def relu(X):\n    return _r(X)\nexec('from jax.nn import relu as _r')\n"},
     "_r, which mlp.py never defines"),
    ({"mlp.py": "from .missing import f\ndef relu(X):\n    return f(X)\n"}, "the import of .missing"),
    ({"mlp.py": "from .helpers import f\ndef relu(X):\n    return f(X)\n", "helpers.py": "def f(x:\n"},
     "helpers.py could not be read as Python"),
    ({"mlp.py": "from .helpers import f\ndef relu(X):\n    return f(X)\n", "helpers.py": "a = 1\n" * 200_000},
     "helpers.py is too large to check (1,200,000 bytes; the cap is 1,000,000)"),
    ({"mlp.py": "def relu(X):\n    return X * (X > 0)\n", "mlp.abi3.so": b"\x7fELF"},
     "mlp.abi3.so is compiled code, which cannot be checked"),
    ({"mlp.py": "import setup_jax\ndef relu(X):\n    return X * (X > 0)\n", "setup_jax.py": "import jax.numpy as jnp\n"
      "import jax\nm = jnp\nm.maximum = jax.nn.relu\n"}, "changes jax.numpy.maximum"),
    ({"mlp.py": "from .tools import pos\ndef relu(X):\n    return pos(X)\n", "tools.py": "import jax\n"
      "def pos(X):\n    return X * (X > 0)\ndef _setup():\n    setattr(jax.numpy, 'maximum', jax.nn.relu)\n"},
     "changes jax.numpy.maximum"),
], ids=["name-made-in-helper", "name-made-in-module", "missing-module", "unparsable-helper", "oversized-helper",
        "compiled-module", "patch-in-imported-file", "patch-in-reached-file"])
def test_what_cannot_be_checked_in_a_folder_fails_closed(tmp_path, files, phrase):
    found = shortcuts.scan_directory(_write(tmp_path, files))
    assert set(found) == {"relu"} and phrase in found["relu"], found


def test_a_library_change_costs_only_the_functions_around_it(tmp_path):
    """A change made in one exercise module costs that module's functions (and those that import or reach it),
    as when each notebook is graded on its own; elsewhere the sandbox's run-time tripwire sees its effect."""
    _write(tmp_path, {
        "softmax_regression.py": "import grader.notebook\nimport jax.numpy as jnp\n"
                                 "grader.notebook.check = lambda *a: 100\ndef softmax(X):\n    return X\n"
                                 "def cross_entropy(o, y):\n    return o\n",
        "mlp.py": "import jax.numpy as jnp\ndef relu(X):\n    return jnp.maximum(X, 0)\n",
        "weight_decay.py": "def l2_penalty(w):\n    return (w ** 2).sum() / 2\n",
        "unused.py": "import jax, jax.numpy as jnp\njnp.maximum = jax.nn.relu\n",
    })
    found = shortcuts.scan_directory(tmp_path)
    assert set(found) == {"softmax", "cross_entropy"}
    assert "changes grader.notebook.check (a library changed at run time cannot be checked)" in found["softmax"]


def test_scan_sources_takes_helper_modules_and_bytes():
    found = shortcuts.scan_sources({
        "mlp": b"from .pkg.util import f\ndef relu(X):\n    return f(X)\n",
        "pkg.util": "import jax\nf = jax.nn.relu\n",
        "weight_decay": "def l2_penalty(w):\n    return (w ** 2).sum() / 2\n",
    })
    assert set(found) == {"relu"} and "relu calls jax.nn.relu" in found["relu"]


# --- encodings: read as Python reads them, or fail closed ---------------------------------------------------------

def test_latin1_source_is_decoded_by_its_cookie(tmp_path):
    _write(tmp_path, {"mlp.py": "# -*- coding: latin-1 -*-\nimport jax\ndef relu(X):\n    é = jax.nn.relu\n"
                                "    return é(X)\n".encode("latin-1")})
    assert "relu calls jax.nn.relu" in shortcuts.scan_directory(tmp_path)["relu"]


def test_honest_latin1_source_is_clean(tmp_path):
    _write(tmp_path, {"mlp.py": "# -*- coding: latin-1 -*-\nimport jax.numpy as jnp\n# café\ndef relu(X):\n"
                                "    é = jnp.maximum\n    return é(X, 0)\n".encode("latin-1")})
    assert shortcuts.scan_directory(tmp_path) == {}


def test_utf7_source_is_decoded_by_its_cookie(tmp_path):
    data = b"# coding: utf-7\nimport jax\ndef relu(X):\n    return jax.nn.+AHIAZQBsAHU-(X)\n"
    assert b"nn.relu" not in data and data.decode("utf-7").endswith("return jax.nn.relu(X)\n")
    _write(tmp_path, {"mlp.py": data})
    assert "relu calls jax.nn.relu" in shortcuts.scan_directory(tmp_path)["relu"]


@pytest.mark.parametrize("data", [
    b"def relu(X):\n    return X\xff\n",  # not UTF-8, no cookie
    b"# coding: no-such-codec\ndef relu(X):\n    return X\n",
    b"\xef\xbb\xbf# coding: latin-1\ndef relu(X):\n    return X\n",  # a UTF-8 BOM contradicts the cookie
    b"def relu(X:\n    return X\n",
    b"def relu(X):\n    return X\x00\n",
], ids=["bad-utf8", "unknown-codec", "bom-and-cookie", "syntax-error", "null-byte"])
def test_unreadable_module_fails_closed_for_its_functions_only(tmp_path, data):
    _write(tmp_path, {"mlp.py": data, "weight_decay.py": "def l2_penalty(w):\n    return (w ** 2).sum() / 2\n"})
    found = shortcuts.scan_directory(tmp_path)
    assert set(found) == {"relu"}
    assert "mlp.py could not be read as Python: " in found["relu"]


# --- size ---------------------------------------------------------------------------------------------------------

def test_ten_megabyte_module_is_not_read(tmp_path):
    big = b"a = 1\n" * (10_000_000 // 6 + 1)
    _write(tmp_path, {"mlp.py": big + b"def relu(X):\n    return X\n"})
    tracemalloc.start()
    try:
        start = time.perf_counter()
        found = shortcuts.scan_directory(tmp_path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = (tmp_path / "mlp.py").stat().st_size
    assert found == {"relu": shortcuts.message("relu", [
        f"mlp.py is too large to check ({size:,} bytes; the cap is {shortcuts.MAX_SOURCE_BYTES:,})"])}
    assert elapsed < 0.5 and peak < 5_000_000


def test_unrelated_large_files_do_not_crowd_out_the_student_modules(tmp_path):
    data = 'TABLE = "' + "x" * 900_000 + '"\n'
    _write(tmp_path, {"linear_regression.py": "def sgd(p, g, lr, b):\n    return p\n",
                      "weight_decay.py": "from .wd import half\ndef l2_penalty(w):\n    return half((w ** 2).sum())\n",
                      "wd.py": "def half(x):\n    return x / 2\n",
                      "data1.py": data, "data2.py": data, "data3.py": data})
    assert shortcuts.scan_directory(tmp_path) == {}
    (tmp_path / "wd.py").write_text("from .data1 import TABLE as A\nfrom .data2 import TABLE as B\n"
                                    "from .data3 import TABLE as C\ndef half(x):\n"
                                    "    return x / 2 + 0 * len(A + B + C)\n")
    found = shortcuts.scan_directory(tmp_path)
    assert set(found) == {"l2_penalty"} and "data3.py was not checked: one scan reads at most" in found["l2_penalty"]


def test_symlinked_folder_is_not_followed(tmp_path):
    outside = _write(tmp_path / "outside", {"inner.py": HELPERS})
    submission = _write(tmp_path / "submission",
                        {"mlp.py": "from .pkg.inner import f\ndef relu(X):\n    return f(X)\n"})
    (submission / "pkg").symlink_to(outside, target_is_directory=True)
    found = shortcuts.scan_directory(submission)
    assert "pkg/ is a symbolic link to a folder, which is not checked" in found["relu"]
    assert shortcuts.review_flags(submission) == ["pkg:1: symbolic link to a folder: not followed (unreadable)"]


# --- the kit's own solutions, and the cost of a shortcut --------------------------------------------------------

@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_kit_folders_have_no_shortcuts(kit, folder):
    assert shortcuts.scan_directory(kit / folder) == {}


def test_shortcut_costs_exactly_the_functions_own_checks(kit, reference_obs):
    sources = {m: (kit / "solutions" / f"{m}.py").read_text() for m in set(rubric.STUDENT_FUNCTIONS.values())}
    assert shortcuts.scan_sources(sources) == {}
    sources["mlp"] = sources["mlp"].replace("return jnp.maximum(X, 0)", "return jax.nn.relu(X)")
    found = shortcuts.scan_sources(sources)
    assert set(found) == {"relu"} and "relu calls jax.nn.relu" in found["relu"]
    result = grading.judge(reference_obs, reference_obs, shortcuts=found)
    assert {c.id for c in result.checks if not c.passed} == {c.id for c in rubric.CHECKS if c.target == "relu"}
    assert result.score == 100 - 7


def test_every_function_forbids_the_grading_kit():
    assert all("grader" in names for names in FORBIDDEN.values())
    assert "jax.nn.relu6" not in FORBIDDEN["relu"]
    assert not any("logsumexp" in name for names in FORBIDDEN.values() for name in names)


# --- review notes -------------------------------------------------------------------------------------------------

SUSPICIOUS = """\
import os
import ctypes
from grader.engine import trusted


def relu(X):
    os.write(1, b"x")
    status = open("/proc/self/status").read()
    libc = ctypes.CDLL(None)
    frame = __import__("sys")._getframe().f_back
    return X * (X > 0)
"""


def test_review_flags_notes_what_a_submission_reaches_for(tmp_path):
    _write(tmp_path, {"mlp.py": SUSPICIOUS, "sub/helper.py": "fd = open(3, 'wb')\npath = '/sys' + '/kernel'\n",
                      "big.py": "a = 1\n" * 200_000, "fast.abi3.so": b"\x7fELF"})
    flags = shortcuts.review_flags(tmp_path)
    assert flags == [
        "big.py:1: is too large to check (1,200,000 bytes; the cap is 1,000,000) (size)",
        "fast.abi3.so:1: compiled module: Python may import it, but its code cannot be read (compiled code)",
        "mlp.py:2: imports ctypes (native code)",
        "mlp.py:3: imports grader.engine.trusted (grading kit)",
        "mlp.py:7: uses os.write (file descriptors)",
        "mlp.py:8: path '/proc/self/status' (/proc or /sys path)",
        "mlp.py:9: uses ctypes.CDLL (native code)",
        "mlp.py:10: attribute .f_back (frames and introspection)",
        "mlp.py:10: uses __import__ (code built at run time)",
        "mlp.py:10: uses sys._getframe (frames and introspection)",
        "sub/helper.py:1: open(3) (file descriptors)",
        "sub/helper.py:2: path '/sys/kernel' (/proc or /sys path)",
    ]
    assert shortcuts.review_flags(tmp_path) == flags  # deterministic
    assert shortcuts.scan_directory(tmp_path) == {}  # notes, not penalties


def test_review_flags_are_capped(tmp_path):
    _write(tmp_path, {"mlp.py": "import os\n" + "os.system('true')\n" * 60})
    flags = shortcuts.review_flags(tmp_path)
    assert len(flags) == shortcuts.MAX_FLAGS + 1 and flags[-1] == "... and 10 more"
    assert flags[0] == "mlp.py:2: uses os.system (subprocesses)"


def test_review_flags_ignore_plain_builtins_and_caches(tmp_path):
    _write(tmp_path, {"mlp.py": "def relu(X):\n    return max(len(X), 0) and X\n",
                      "__pycache__/mlp.cpython-311.py": "import ctypes\n", ".hidden/x.py": "import socket\n"})
    assert shortcuts.review_flags(tmp_path) == []
