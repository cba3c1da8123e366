"""The bank as submission folders, graded by the real `grade batch`, and the grader's scorecard.

    python -m tests.bank [--jobs 2] [--keep DIR] [--sample]

prints, per function, how many correct alternatives got full marks, how many known mistakes were caught
(lost points on their function) and how many were named (the feedback says the cause), and exits non-zero
when any verdict is off. ``tests/test_bank.py`` runs the sample on every CI run (``--sample``: a mistake per
function and two correct alternatives, whole submissions); the in-process bank
(``tests/test_checks_both_ways.py``) proves every entry on every run. Run the whole CLI bank after changing the
sandbox, the wire or the CLI.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from grader import rubric

from . import mutants

KIT = Path(__file__).resolve().parent.parent
HELPERS = [mutants._order, mutants._stable, mutants._lse, mutants._pick]
PRELUDE = "import jax\nimport jax.numpy as jnp\nimport numpy as np\nimport optax\n"


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    function: str
    impl: object
    expect: frozenset | None  # None: a correct alternative
    says: str = ""


def entries() -> list[Entry]:
    out = [Entry(m.name, m.function, m.impl, m.expect, m.says) for m in mutants.MUTANTS]
    out += [Entry(name, function, impl, None) for name, function, impl in mutants.CORRECT]
    return out


def _source_as(impl, name: str) -> str:
    """The implementation's source without its bank decorator, renamed to the student function's name."""
    src = textwrap.dedent(inspect.getsource(impl))
    node = ast.parse(src).body[0]
    src = "\n".join(src.splitlines()[node.lineno - 1:])
    return src.replace(f"{impl.__name__}(", f"{name}(")


def write_submission(entry: Entry, target: Path) -> Path:
    """A copy of solutions/ whose ``entry.function`` is the bank's implementation."""
    shutil.copytree(KIT / "solutions", target, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    path = target / f"{rubric.STUDENT_FUNCTIONS[entry.function]}.py"
    text = path.read_text()
    body = ast.parse(text).body
    k = next(i for i, n in enumerate(body) if isinstance(n, ast.FunctionDef) and n.name == entry.function)
    lines = text.splitlines()
    # replace up to the next top-level statement, so trailing comments (### END SOLUTION) go too
    end = body[k + 1].lineno - 1 if k + 1 < len(body) else len(lines)
    new = lines[:body[k].lineno - 1] + _source_as(entry.impl, entry.function).splitlines() + ["", ""] + lines[end:]
    helpers = "\n\n".join(textwrap.dedent(inspect.getsource(h)) for h in HELPERS)
    path.write_text("\n".join(new) + "\n\n" + PRELUDE + "\n" + helpers + "\n")
    return target


SAMPLE_CORRECT = ("softmax", "cross_entropy")  # the functions whose correct alternatives differ the most


def sample() -> list[Entry]:
    """A few entries for every CI run (the in-process bank, ``tests/test_checks_both_ways.py``, proves all of
    them): per function, the first mistake that also breaks its section's training (else its first mistake), and
    the first correct alternative of the functions in :data:`SAMPLE_CORRECT`."""
    chosen = []
    for function in rubric.STUDENT_FUNCTIONS:
        group = [e for e in entries() if e.function == function]
        wrong = [e for e in group if e.expect is not None]
        trains = [e for e in wrong if any(c.startswith("train.") for c in e.expect)]
        chosen.append((trains or wrong)[0])
        if function in SAMPLE_CORRECT:
            chosen.append(next(e for e in group if e.expect is None))
    return chosen


def grade_bank(root: Path, jobs: int = 2, chosen: list[Entry] | None = None) -> dict[str, dict]:
    """Build ``chosen`` (default: every entry) under ``root`` and grade them with the real ``grade batch``.

    The whole bank: one batch per function, with ``--only FUNCTION``: an entry changes one function, and a
    function's bugs reach only its own checks and its section's training (the other sections train with library
    parts), so those are the checks that can tell right from wrong. A sample: one batch of whole submissions,
    every check of the rubric, which also shows through the CLI that a bug costs its own section only.
    """
    if chosen is not None:
        for entry in chosen:
            write_submission(entry, root / "sample" / entry.name)
        return _batch(root / "sample", root / "_grades_sample", jobs, [e.name for e in chosen])
    reports = {}
    for function in rubric.STUDENT_FUNCTIONS:
        group = [e for e in entries() if e.function == function]
        for entry in group:
            write_submission(entry, root / function / entry.name)
        reports.update(_batch(root / function, root / f"_grades_{function}", jobs, [e.name for e in group],
                              "--only", function))
    return reports


def _batch(folder: Path, out: Path, jobs: int, names: list[str], *options: str) -> dict[str, dict]:
    """``grade batch`` of ``folder``; each submission's JSON report by name."""
    proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(folder), "--jobs", str(jobs), "--quiet",
                           *options, "--out", str(out)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return {name: json.loads((out / f"{name}.json").read_text()) for name in names}


def verdicts(reports: dict[str, dict]) -> list[dict]:
    """One row per graded entry: is the verdict right, and for a mistake, is it caught and named?"""
    rows = []
    for e in entries():
        if e.name not in reports:
            continue
        report = reports[e.name]
        failed = {c["id"] for c in report["checks"] if not c["passed"]}
        own = [c for c in report["checks"] if c["target"] == e.function]
        if e.expect is None:
            rows.append(dict(entry=e.name, function=e.function, kind="correct",
                             ok=not failed and report["score"] == report["max_score"], detail=sorted(failed)))
            continue
        caught = any(not c["passed"] for c in own)
        named = any(e.says in c["message"] for c in own if not c["passed"])
        rows.append(dict(entry=e.name, function=e.function, kind="mistake", caught=caught, named=named,
                         ok=caught and named and failed == set(e.expect),
                         detail=sorted(failed ^ set(e.expect))))
    return rows


def scorecard(rows: list[dict]) -> str:
    lines = [f"{'function':<14} {'correct, full marks':>20} {'mistakes caught':>16} {'named':>8}"]
    for f in rubric.STUDENT_FUNCTIONS:
        right = [r for r in rows if r["function"] == f and r["kind"] == "correct"]
        wrong = [r for r in rows if r["function"] == f and r["kind"] == "mistake"]
        lines.append(f"{f:<14} {sum(r['ok'] for r in right):>9}/{len(right):<10} "
                     f"{sum(r['caught'] for r in wrong):>7}/{len(wrong):<8} "
                     f"{sum(r['named'] for r in wrong):>3}/{len(wrong)}")
    off = [r for r in rows if not r["ok"]]
    lines.append("")
    lines.append("every verdict as expected" if not off else "verdicts that are off:")
    lines += [f"  {r['entry']}: {r['detail']}" for r in off]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build the bank here and keep it")
    parser.add_argument("--sample", action="store_true", help="only the sample that CI grades (tests/test_bank.py)")
    args = parser.parse_args()
    chosen = sample() if args.sample else None
    if args.keep:
        args.keep.mkdir(parents=True)
        rows = verdicts(grade_bank(args.keep, args.jobs, chosen))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            rows = verdicts(grade_bank(Path(tmp), args.jobs, chosen))
    print(scorecard(rows))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
