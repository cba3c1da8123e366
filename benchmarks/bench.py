"""How long grading takes, on this machine, as medians over several runs.

    python benchmarks/bench.py [--runs 3] [--class-size 20] [--skip nbgrader,batch,fashion,first-run]

Measures (1) `grade` on the reference, one cold process (with the reference's observations recomputed, as
before they were cached on disk, and with the cache), and with `--report-dir` (figures drawn); (1b) the two
classifier trainings on a Fashion-MNIST-sized look-alike (60,000 / 10,000 images of 784 pixels, written by
`tests/fashion_like.py`: the real files cannot be fetched here), student in the sandbox and reference in the
parent, as `grade --dataset fashion-mnist` runs them; (1c) the cost of the confinement: one sandboxed
child on one small probe with no kernel layers, with the kernel's, and with the children's own user too, and the
policy for submitted code on the solutions' files; (2) `pytest exercises/ --dl-submission solutions/`;
(3) `grade batch` of N copies of the reference with --jobs 1 and --jobs 2, and on a Dask LocalCluster of 2 workers; (4) `nbgrader autograde` of the
same chapter for one student; (5) a student's loop: `grade --help` and `pytest exercises/ --help` (no JAX),
and `pytest exercises/ --dl-only relu` on an empty user cache, its first run (which fills the compilation cache)
and the runs after it; and the floors: `python -c "import jax"` and the pure training compute (the four
trainings of the reference, in one warm process). Runs `grade warm` first (the compilation cache children read). Prints each median, then each speed target
beside its figure from this run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
PY = sys.executable


def timed(cmd: list[str], cwd: Path = KIT, env: dict | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def median(fn, runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--class-size", type=int, default=20)
    parser.add_argument("--skip", default="",
                        help="comma-separated: batch, dask, nbgrader, fashion, confine, first-run")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    r = {}
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
    r["grade solutions/ (cold, reference recomputed)"] = median(
        lambda: timed([PY, "-m", "grader", "solutions", "--quiet"], env=no_cache), args.runs)
    r["grade solutions/ (cold)"] = median(lambda: timed([PY, "-m", "grader", "solutions", "--quiet"]), args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        r["grade solutions/ --report-dir (cold)"] = median(
            lambda: timed([PY, "-m", "grader", "solutions", "--quiet", "--report-dir", tmp]), args.runs)
        if "fashion" not in skip:
            r["fashion-sized classifier trainings (sandbox + reference)"] = median(
                lambda: fashion_sized(Path(tmp) / "fashion"), args.runs)
    r["pytest exercises/ --dl-submission solutions/"] = median(
        lambda: timed([PY, "-m", "pytest", "exercises/", "--dl-submission", "solutions/", "-q"]), args.runs)
    r["pytest exercises/ (fresh stubs)"] = median(lambda: timed([PY, "-m", "pytest", "exercises/", "-q"]), args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "batch" not in skip:
            klass = tmp / "class"
            for i in range(args.class_size):
                shutil.copytree(KIT / "solutions", klass / f"student{i:02d}", ignore=shutil.ignore_patterns("__pycache__"))
            for jobs in (1, 2):
                r[f"grade batch of {args.class_size}, --jobs {jobs}"] = timed(
                    [PY, "-m", "grader", "batch", str(klass), "--jobs", str(jobs), "--quiet"])
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
    print(f"medians over {args.runs} runs on {os.cpu_count()} cores")
    for k, v in r.items():
        print(f"  {k:<{width}}  {v:7.2f} s")
    g = r["grade solutions/ (cold)"]
    print("targets (figure from this run, target)")

    def target(name: str, figure: str, goal: str) -> None:
        print(f"  {name:<46} {figure:>9}   {goal}")
    if "sandboxed child, one probe, every layer" in r:
        cost = r["sandboxed child, one probe, every layer"] - r["sandboxed child, one probe, no kernel layers"]
        target("confinement cost per child", f"{cost:+.2f} s", "<= 0.3 s")
        user = r["sandboxed child, one probe, every layer"] - r["sandboxed child, one probe, kernel layers"]
        target("  of which the children's own user", f"{user:+.2f} s", "")
    target("grade --help", f"{r['grade --help']:.2f} s", "no JAX imported")
    target("pytest exercises/ --help", f"{r['pytest exercises/ --help']:.2f} s", "no JAX imported")
    if "pytest exercises/ --dl-only relu, later runs" in r:
        first = r["pytest exercises/ --dl-only relu, first run (empty cache)"]
        later = r["pytest exercises/ --dl-only relu, later runs"]
        target("--dl-only one function, first run (fills)", f"{first:.1f} s", "once")
        target("--dl-only one function, from the second run", f"{later:.1f} s", "<= 4 s")
    target("grade solutions/", f"{g:.1f} s", "<= 5 s on 2 cores")
    if "nbgrader autograde (1 student)" in r:
        target("grade / nbgrader autograde", f"{g / r['nbgrader autograde (1 student)']:.2f}", "<= 0.25")
    target("pytest exercises/, full marks", f"{r['pytest exercises/ --dl-submission solutions/']:.1f} s", "<= 6 s")
    target("pytest exercises/, fresh stubs", f"{r['pytest exercises/ (fresh stubs)']:.1f} s", "<= 5 s")
    if f"grade batch of {args.class_size}, --jobs 1" in r:
        j1, j2 = r[f"grade batch of {args.class_size}, --jobs 1"], r[f"grade batch of {args.class_size}, --jobs 2"]
        target("batch throughput, --jobs 2 vs --jobs 1", f"{j1 / j2:.2f}x", ">= 1.8x")
        target("batch seconds per submission, --jobs 2", f"{j2 / args.class_size:.2f} s", "")
        dask = r.get(f"grade batch of {args.class_size}, Dask LocalCluster of 2")
        if dask:
            target("batch on Dask (2 workers) vs local pool", f"{j2 / dask:.2f}x", "~1x: same work, other executor")
            target("Dask: submissions per worker-core-minute", f"{60 * args.class_size / dask / 2:.1f}", "")
    target("grade / (import jax + training compute)",
           f"{g / (r['import jax'] + r['training compute (4 tasks, warm)']):.2f}", "the floor is 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
