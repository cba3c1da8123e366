"""Engine hijacks: module-level code in a submission whose stubs are left as they are, trying to make the probe
driver observe a library relu (or the kit's trusted one) in place of the student's unimplemented ``relu``.

Each entry is appended to ``mlp.py`` of the released stubs. Every one of them reaches for the driver or the
libraries by a different road: the module table, the garbage collector, frames, tracebacks, a decorator, a
default argument, a class body, a module ``__getattr__``, an import hook, ``__main__``, ``inspect``, patching jax,
and a library function standing in for the student's. The policy for submitted code refuses each before it runs;
an instructor who accepts the code (``--accept-code``) leaves them to the guard in the child. Either way relu's
points stay those of the stub: none.
"""

from __future__ import annotations

# Shared by several entries: swap relu's probe in the rubric's probe table for one that probes jax.nn.relu.
_SWAP_PROBE = '''
def _swap_probe(table):
    import dataclasses, jax
    probe = table["relu"]
    original = probe.run
    table["relu"] = dataclasses.replace(probe, run=lambda fns, **kw: original({"relu": jax.nn.relu}, **kw))
'''

HIJACKS: dict[str, tuple[str, str]] = {
    # name: (code appended to mlp.py, what the policy names)
    "sys_modules": ('''
import sys
_probing = sys.modules["grader.engine.probing"]
_trusted = sys.modules["grader.engine.trusted"]
_observe = _probing.observe
def _forged(functions, errors, *args, **kwargs):
    return _observe({**functions, "relu": _trusted.FUNCTIONS["relu"]}, {}, *args, **kwargs)
_probing.observe = _forged
''', "sys.modules"),
    "gc": (_SWAP_PROBE + '''
import gc
for _obj in gc.get_objects():
    if isinstance(_obj, dict) and "relu" in _obj and "hidden.relu" in _obj and hasattr(_obj["relu"], "run"):
        _swap_probe(_obj)
''', "gc"),
    "frames": (_SWAP_PROBE + '''
import sys
_frame = sys._getframe(0)
while _frame is not None:
    for _value in list(_frame.f_locals.values()) + list(_frame.f_globals.values()):
        _table = getattr(_value, "ALL_PROBES", None)
        if isinstance(_table, dict):
            _swap_probe(_table)
    _frame = _frame.f_back
''', "_getframe"),
    "traceback": (_SWAP_PROBE + '''
try:
    raise RuntimeError("look around")
except RuntimeError as _error:
    _frame = _error.__traceback__.tb_frame
    while _frame is not None:
        for _value in list(_frame.f_globals.values()):
            if isinstance(getattr(_value, "ALL_PROBES", None), dict):
                _swap_probe(_value.ALL_PROBES)
        _frame = _frame.f_back
''', "__traceback__"),
    "decorator": ('''
def _install(fn):
    import sys
    probing, trusted = sys.modules["grader.engine.probing"], sys.modules["grader.engine.trusted"]
    observe = probing.observe
    probing.observe = lambda functions, errors, *a, **k: observe({**functions, **trusted.FUNCTIONS}, {}, *a, **k)
    return fn

@_install
def _helper(x):
    return x
''', "decorator"),
    "default_argument": ('''
def _install():
    import sys
    probing, trusted = sys.modules["grader.engine.probing"], sys.modules["grader.engine.trusted"]
    observe = probing.observe
    probing.observe = lambda functions, errors, *a, **k: observe({**functions, **trusted.FUNCTIONS}, {}, *a, **k)

def _helper(x, _done=_install()):
    return x
''', "default"),
    "class_body": ('''
class _Installer:
    import sys
    _probing = sys.modules["grader.engine.probing"]
    _trusted = sys.modules["grader.engine.trusted"]
    _observe = _probing.observe
    _probing.observe = lambda functions, errors, *a, _o=_observe, _t=_trusted, **k: _o(
        {**functions, **_t.FUNCTIONS}, {}, *a, **k)
''', "class"),
    "module_getattr": ('''
del relu

def __getattr__(name):
    if name == "relu":
        return jax.nn.relu
    raise AttributeError(name)
''', "__getattr__"),
    "import_hook": ('''
import importlib.abc, importlib.util, sys

class _KitFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "kit_trusted":
            return importlib.util.spec_from_file_location(
                name, sys.modules["grader"].__path__[0] + "/engine/trusted.py")
        return None

sys.meta_path.insert(0, _KitFinder())
import kit_trusted
relu = kit_trusted.relu
''', "import"),
    "main_module": ('''
import __main__
for _value in vars(__main__).values():
    _globals = getattr(_value, "__globals__", None)
    if _globals and "probing" in _globals:
        _globals["probing"].observe = lambda functions, errors, *a, **k: _globals["probing"].observe(
            {**functions, "relu": jax.nn.relu}, {}, *a, **k)
''', "__main__"),
    "inspect": (_SWAP_PROBE + '''
import inspect
for _info in inspect.stack():
    for _value in _info.frame.f_globals.values():
        if isinstance(getattr(_value, "ALL_PROBES", None), dict):
            _swap_probe(_value.ALL_PROBES)
''', "inspect"),
    "patch_jax": ('''
_jit, _grad = jax.jit, jax.grad
jax.jit = lambda f, *a, **k: _jit(jax.nn.relu if getattr(f, "__name__", "") == "relu" else f, *a, **k)
jax.grad = lambda f, *a, **k: _grad(lambda v: jnp.sum(jax.nn.relu(v)) if f is None else f(v), *a, **k)
''', "jax.jit"),
    "setattr_jax": ('''
setattr(jax, "jit", lambda f, *a, **k: jax.vmap(jax.nn.relu))
''', "setattr"),
    "library_stand_in": ('''
relu = jax.jit(jax.nn.relu)
''', "jax.jit(jax.nn.relu)"),
}
