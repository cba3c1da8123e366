"""How long grading takes, on this machine, as medians over several runs.

    python benchmarks/bench.py [--runs 3] [--class-size 20] [--skip nbgrader,batch,fashion,first-run,...]
                               [--ci-minutes M]

Measures (1) `grade` on the reference, one cold process (with the reference's observations recomputed, as before they
were cached on disk, and with the cache), and with `--report-dir` (figures drawn); (1b) the two classifier trainings on
a Fashion-MNIST-sized look-alike (60,000 / 10,000 images of 784 pixels, written by `tests/fashion_like.py`: the real
files cannot be fetched here), student in the sandbox and reference in the parent, as `grade --dataset fashion-mnist`
runs them; (1c) the cost of the confinement: one sandboxed child on one small probe with no kernel layers, with the
kernel's, and with the children's own user too, and the policy for submitted code on the solutions' files; (2) `pytest
exercises/ --dl-submission solutions/`; (3) `grade batch` of N copies of the reference with --jobs 1 and --jobs 2, and
on a Dask LocalCluster of 2 workers; (4) `nbgrader autograde` of the same chapter for one student; (5) a student's loop:
`grade --help` and `pytest exercises/ --help` (no JAX), and `pytest exercises/ --dl-only relu` on an empty user cache,
its first run (which fills the compilation cache) and the runs after it; and the floors: `python -c "import jax"` and
the pure training compute (the four trainings of the reference, in one warm process); (6) the hidden checks' cost:
`grade solutions/` with a secret and a student id against without; (7) `grade batch`'s core-seconds per submission (the
CPU time of the grader and every child it started, over the class). Runs `grade warm` first (the compilation cache
children read). Prints each median (wall seconds, and the CPU seconds of the process and its children), then one table:
each speed target beside its figure from this run. The kit's CI time is not measured here (``.ci/run`` runs the whole
suite): pass it with ``--ci-minutes`` to have it in the table.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
PY = sys.executable


CPU: dict[str, float] = {}  # the CPU seconds (user + system) of the last run of each command timed, children included


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path = KIT, env: dict | None = None) -> float:
    """Wall seconds of ``cmd``; its CPU seconds, with every process it waited for, go to :data:`CPU`."""
    cpu, start = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    CPU[" ".join(cmd)] = _children_cpu() - cpu
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def median(fn, runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def median_with_cpu(cmd: list[str], runs: int, env: dict | None = None) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of ``runs`` runs of ``cmd``."""
    walls, cpus = [], []
    for _ in range(runs):
        walls.append(timed(cmd, env=env))
        cpus.append(CPU[" ".join(cmd)])
    return statistics.median(walls), statistics.median(cpus)


def first_and_later(cmd: list[str], runs: int) -> tuple[float, float]:
    """Seconds of ``cmd``'s first run on an empty user cache (a student's first run: it fills the compilation cache)
    and the median of the runs after it."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_CACHE_HOME=tmp)
        env.pop("DL_BASICS_NO_CACHE", None)
        first = timed(cmd, env=env)
        return first, median(lambda: timed(cmd, env=env), runs)


def training_floor() -> float:
    code = ("import time\nfrom grader.engine import trusted\nfrom grader.checks.trainings import tasks as t\n"
            "probes = [t.probe_linear_regression, t.probe_softmax_regression, t.probe_mlp, t.probe_weight_decay]\n"
            "[p(dict(trusted.FUNCTIONS)) for p in probes]\n"
            "s = time.perf_counter()\n[p(dict(trusted.FUNCTIONS)) for p in probes]\nprint(time.perf_counter() - s)\n")
    return float(subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=KIT).stdout.split()[-1])


def fashion_sized(directory: Path) -> float:
    """Seconds for the sandboxed softmax-regression and MLP trainings (and their reference) on 60,000 images."""
    code = ("import sys, time\nfrom pathlib import Path\nfrom grader import grading\nfrom grader.data import datasets\n"
            "from tests import fashion_like\n"
            f"d = Path({str(directory)!r})\nsums = fashion_like.write(d, 60000, 10000)\n"
            "spec = datasets.DataSpec('fashion-mnist', str(d), tuple(sorted(sums.items()))).resolve()\n"
            "s = time.perf_counter()\n"
            "plan = grading.GradingPlan(probes=['softmax_regression', 'mlp'], data=spec)\n"
            "result, _ = grading.grade('solutions', plan)\n"
            "assert all(c.passed for c in result.checks), result\nprint(time.perf_counter() - s)\n")
    env = dict(os.environ, DL_BASICS_NO_CACHE="1")
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=KIT, env=env)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return float(proc.stdout.split()[-1])


def child_seconds(layers: str, runs: int) -> float:
    """Median seconds of one sandboxed child grading one small probe (l2_penalty) with the given layers
    (``DL_BASICS_CONFINE``: ``none``, ``landlock,namespaces,seccomp``, or with ``user`` too), in one warm parent."""
    code = ("import statistics, time\nfrom grader.engine import confine, sandbox\n"
            "def once():\n    s = time.perf_counter()\n"
            "    sandbox.run_probes('solutions', ['l2_penalty'])\n    return time.perf_counter() - s\n"
            f"once()\nprint(confine.available().describe())\nprint(statistics.median(once() for _ in range({runs})))\n")
    env = dict(os.environ, DL_BASICS_CONFINE=layers)
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=KIT, env=env)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return float(proc.stdout.split()[-1])


def policy_seconds(runs: int) -> float:
    """Median seconds of the policy for submitted code on the solutions' files (what each submission costs the
    grading process before its child starts), in one warm process."""
    code = ("import statistics, time\nfrom grader import locate\nfrom grader.engine import code_policy\n"
            "files = locate.read_submission_files(__import__('pathlib').Path('solutions'))[0]\n"
            "code_policy.check_files(files)\n"
            "def once():\n    s = time.perf_counter()\n    code_policy.check_files(files)\n"
            "    return time.perf_counter() - s\n"
            f"print(statistics.median(once() for _ in range({runs})))\n")
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=KIT)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return float(proc.stdout.split()[-1])


def print_targets(r: dict[str, float], cpu: dict[str, float], args) -> None:
    """One table: each speed target beside its figure from this run (wall seconds unless it says otherwise)."""
    rows: list[tuple[str, str, str]] = []

    def target(name: str, figure: str, goal: str) -> None:
        rows.append((name, figure, goal))
    g = r["grade solutions/ (cold)"]
    full = r["pytest exercises/ --dl-submission solutions/"]
    target("pytest exercises/, full marks", f"{full:.1f} s", "<= 6 s")
    if "pytest exercises/ --dl-only relu, later runs" in r:
        target("pytest exercises/ --dl-only relu, from the 2nd run",
               f"{r['pytest exercises/ --dl-only relu, later runs']:.1f} s", "<= 4 s")
        target("  its first run (fills the compilation cache)",
               f"{r['pytest exercises/ --dl-only relu, first run (empty cache)']:.0f} s", "once")
    target("grade solutions/", f"{g:.1f} s", "<= 5 s")
    hidden = r["grade solutions/ with hidden checks (cold)"]
    target("hidden checks' cost (grade solutions/ with a secret)", f"{100 * (hidden / g - 1):+.0f} %", "<= +30 %")
    jobs2 = f"grade batch of {args.class_size}, --jobs 2"
    if jobs2 in cpu:
        target("grade batch, core-seconds per submission", f"{cpu[jobs2] / args.class_size:.1f}", "<= 9")
        j1 = r[f"grade batch of {args.class_size}, --jobs 1"]
        target("  batch throughput, --jobs 2 vs --jobs 1", f"{j1 / r[jobs2]:.2f}x", ">= 1.8x")
    target("the kit's CI (.ci/run)", "see .ci/run" if args.ci_minutes is None else f"{args.ci_minutes:.1f} min",
           "<= 6 min")
    if "sandboxed child, one probe, every layer" in r:
        cost = r["sandboxed child, one probe, every layer"] - r["sandboxed child, one probe, no kernel layers"]
        target("confinement cost per child", f"{cost:+.2f} s", "<= 0.3 s")
    target("grade --help", f"{r['grade --help']:.2f} s", "no JAX imported")
    target("pytest exercises/ --help", f"{r['pytest exercises/ --help']:.2f} s", "no JAX imported")
    target("pytest exercises/, fresh stubs", f"{r['pytest exercises/ (fresh stubs)']:.1f} s", "<= 5 s")
    if "nbgrader autograde (1 student)" in r:
        target("grade / nbgrader autograde", f"{g / r['nbgrader autograde (1 student)']:.2f}", "<= 0.25")
    target("grade / (import jax + training compute)",
           f"{g / (r['import jax'] + r['training compute (4 tasks, warm)']):.2f}", "the floor is 1")
    width = max(len(name) for name, _, _ in rows)
    print(f"targets, on {os.cpu_count()} cores (figure from this run)")
    print(f"  {'target':<{width}}  {'figure':>9}  goal")
    for name, figure, goal in rows:
        print(f"  {name:<{width}}  {figure:>9}  {goal}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--class-size", type=int, default=20)
    parser.add_argument("--skip", default="",
                        help="comma-separated: batch, dask, nbgrader, fashion, confine, first-run, recompute, "
                             "report-dir")
    parser.add_argument("--ci-minutes", type=float, default=None,
                        help="the kit's CI time (.ci/run, measured elsewhere), for the table")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    r: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds (children included) beside some medians
    r["grade --help"] = median(lambda: timed([PY, "-m", "grader", "--help"]), args.runs)
    r["pytest exercises/ --help"] = median(lambda: timed([PY, "-m", "pytest", "exercises/", "--help"]), args.runs)
    relu = [PY, "-m", "pytest", "exercises/", "--dl-only", "relu", "-q"]
    if "first-run" not in skip:  # before `grade warm` below, in a cache of its own
        r["pytest exercises/ --dl-only relu, first run (empty cache)"], r[
            "pytest exercises/ --dl-only relu, later runs"] = first_and_later(relu, args.runs)
    timed([PY, "-m", "grader", "warm"])  # the compilation cache, as after installing (children read it)
    r["import jax"] = median(lambda: timed([PY, "-c", "import jax"]), args.runs)
    if "confine" not in skip:
        r["sandboxed child, one probe, no kernel layers"] = child_seconds("none", max(args.runs, 5))
        r["sandboxed child, one probe, kernel layers"] = child_seconds("landlock,namespaces,seccomp",
                                                                      max(args.runs, 5))
        r["sandboxed child, one probe, every layer"] = child_seconds("landlock,namespaces,seccomp,user",
                                                                     max(args.runs, 5))
        r["policy for submitted code, the solutions' files"] = policy_seconds(max(args.runs, 5))
    r["training compute (4 tasks, warm)"] = median(training_floor, args.runs)
    no_cache = dict(os.environ, DL_BASICS_NO_CACHE="1")
    if "recompute" not in skip:
        r["grade solutions/ (cold, reference recomputed)"] = median(
            lambda: timed([PY, "-m", "grader", "solutions", "--quiet"], env=no_cache), args.runs)
    grade = [PY, "-m", "grader", "solutions", "--quiet"]
    r["grade solutions/ (cold)"], cpu["grade solutions/ (cold)"] = median_with_cpu(grade, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        secret = Path(tmp) / "secret"
        secret.write_text("0123456789abcdef" * 4)
        secret.chmod(0o600)
        students = iter(range(10 ** 6))  # another student each run: their hidden inputs are new to every cache
        hidden = lambda: timed(grade + ["--secret-file", str(secret), "--student-id", f"student{next(students)}"])  # noqa: E731
        r["grade solutions/ with hidden checks (cold)"] = median(hidden, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        if "report-dir" not in skip:
            r["grade solutions/ --report-dir (cold)"] = median(
                lambda: timed([PY, "-m", "grader", "solutions", "--quiet", "--report-dir", tmp]), args.runs)
        if "fashion" not in skip:
            r["fashion-sized classifier trainings (sandbox + reference)"] = median(
                lambda: fashion_sized(Path(tmp) / "fashion"), args.runs)
    key = "pytest exercises/ --dl-submission solutions/"
    r[key], cpu[key] = median_with_cpu([PY, "-m", "pytest", "exercises/", "--dl-submission", "solutions/", "-q"],
                                       args.runs)
    r["pytest exercises/ (fresh stubs)"] = median(lambda: timed([PY, "-m", "pytest", "exercises/", "-q"]), args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "batch" not in skip:
            klass = tmp / "class"
            for i in range(args.class_size):
                shutil.copytree(KIT / "solutions", klass / f"student{i:02d}",
                                ignore=shutil.ignore_patterns("__pycache__"))
            for jobs in (1, 2):
                r[f"grade batch of {args.class_size}, --jobs {jobs}"] = timed(
                    [PY, "-m", "grader", "batch", str(klass), "--jobs", str(jobs), "--quiet"])
                cpu[f"grade batch of {args.class_size}, --jobs {jobs}"] = CPU[" ".join(
                    [PY, "-m", "grader", "batch", str(klass), "--jobs", str(jobs), "--quiet"])]
            if "dask" not in skip:
                r[f"grade batch of {args.class_size}, Dask LocalCluster of 2"] = timed(
                    [PY, "-m", "grader", "batch", str(klass), "--jobs", "2", "--scheduler", "local", "--quiet"])
        if "nbgrader" not in skip:
            course = tmp / "course"
            subprocess.run([PY, "-m", "grader.authoring.course", str(course)], check=True, capture_output=True)
            env = dict(os.environ, PATH=f"{Path(PY).parent}{os.pathsep}{os.environ['PATH']}")
            nbg = [PY, "-m", "nbgrader"]
            timed(nbg + ["generate_assignment", "chapter", "--force"], cwd=course, env=env)

            def autograde() -> float:
                sub = course / "submitted" / "alice" / "chapter"
                shutil.rmtree(course / "autograded", ignore_errors=True)
                shutil.rmtree(sub, ignore_errors=True)
                shutil.copytree(course / "source" / "chapter", sub)
                return timed(nbg + ["autograde", "chapter", "--force"], cwd=course, env=env)
            r["nbgrader autograde (1 student)"] = median(autograde, args.runs)
    width = max(map(len, r))
    print(f"medians over {args.runs} runs on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end)")
    for k, v in r.items():
        print(f"  {k:<{width}}  {v:7.2f} s" + (f"   ({cpu[k]:.1f} CPU s)" if k in cpu else ""))
    print_targets(r, cpu, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
