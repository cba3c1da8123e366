"""A Gradescope autograder: the kit and the scripts Gradescope runs.

    grade gradescope DIR [--secret-file FILE] [--force]      (also: python -m grader.authoring.gradescope DIR ...)

``grade gradescope DIR`` writes a folder whose *contents* zipped are the autograder Gradescope builds its
image from (``cd DIR && zip -r ../autograder.zip .``):

- ``setup.sh``: run once, as root, while Gradescope builds the image. It installs Python (3.11 or newer) and a
  virtual environment in ``/autograder/venv``, installs ``kit/`` into it with the kit's pinned dependencies,
  runs ``grade warm`` and observes the reference on every check, so the compilation cache and the reference's
  observations are filled by trusted code before any student's code runs.
- ``run_autograder``: run for every submission (Gradescope copies it to ``/autograder/run_autograder``).
  It copies the submission's exercise folder (the exercise files at the top level, in an ``exercises/`` folder,
  or in a folder further down, found by :func:`grader.locate.find_exercise_folder`: no symbolic link followed,
  only regular ``.py`` files copied) into a fresh temporary folder, grades the copy with
  ``grade --format gradescope`` into ``/autograder/results/results.json`` and, when the grader itself cannot run,
  writes a ``results.json`` that says so (score 0, not the student's fault) instead of leaving Gradescope with nothing.
  ``AUTOGRADER_ROOT`` replaces ``/autograder`` (the kit's tests use it).
- ``kit/``: the installable kit: ``pyproject.toml``, ``README.md``, ``grader/`` and ``solutions/``, the
  reference. Students never see an autograder's files on Gradescope.
- ``secret`` (with ``--secret-file``, mode 0600): the instructor's secret; ``run_autograder`` then passes it
  to ``grade`` with the student's Gradescope id (``submission_metadata.json``), so the hidden per-student
  checks run.
- ``README.md``: how to upload it, for the instructor.

``results.json`` carries a Markdown summary and one test per check (status, points, visibility); no leaderboard
(:func:`grader.reports.report.gradescope` says why).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import sys
import textwrap
import tomllib
from pathlib import Path

from grader import rubric
from grader.authoring.release import GRADER, KIT, _ignore
from grader.errors import CannotRun

ROOT_ENV = "AUTOGRADER_ROOT"
SECRET = "secret"
KIT_DIR = "kit"
# What of the kit goes into kit/: enough to `pip install -e` it, and the reference.
KIT_FILES = ("pyproject.toml", "README.md")
KIT_FOLDERS = ("grader", "solutions")


# --- the files ---------------------------------------------------------------------------------------------

def _kit_pyproject() -> dict:
    return tomllib.loads((KIT / "pyproject.toml").read_text())


def pinned_dependencies(pyproject: dict | None = None) -> list[str]:
    """The kit's runtime dependencies as pinned in its ``pyproject.toml`` (``name==version``)."""
    return list((pyproject or _kit_pyproject())["project"]["dependencies"])


def minimum_python(pyproject: dict | None = None) -> tuple[int, int]:
    """The oldest Python the kit supports, from ``requires-python`` (``>=3.11`` → (3, 11))."""
    spec = (pyproject or _kit_pyproject())["project"].get("requires-python", ">=3.11")
    found = re.search(r">=\s*(\d+)\.(\d+)", spec)
    return (int(found.group(1)), int(found.group(2))) if found else (3, 11)


SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (Ubuntu, with python3).
# Written by `grade gradescope` from the grading kit: it installs the kit in kit/ with its pinned
# dependencies, then fills the caches the grader reads with trusted code (no student's code runs here).
set -euo pipefail

ROOT="${@ROOT_ENV@:-/autograder}"
KIT="$ROOT/source/@KIT_DIR@"
VENV="$ROOT/venv"
# The compilation cache and the reference's observations live here; run_autograder reads the same folder.
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$ROOT/cache}"

# The kit needs Python @MIN_DOTTED@ or newer. Where the image's python3 is older (Ubuntu 22.04 has 3.10),
# Ubuntu's own python@MIN_DOTTED@ package is installed beside it.
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < @MIN_TUPLE@)' 2>/dev/null; then
    PYTHON=python@MIN_DOTTED@
fi
# A virtual environment rather than `pip install --break-system-packages`: Ubuntu's python3 is "externally
# managed" (PEP 668) from 23.04 on, and a venv keeps the exact versions below apart from Ubuntu's own
# python3-* packages, so neither can replace the other's files. It needs the -venv package (ensurepip).
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "$PYTHON" "$PYTHON-venv"
"$PYTHON" -m venv "$VENV"

# The kit, editable: the grader then runs from kit/, so kit/solutions/ is its reference and the sandbox keeps
# the kit's folder out of the student's reach as it does on an instructor's checkout. The pins are those of
# kit/pyproject.toml, repeated here so pip stops if the two ever disagree.
PINS=(
@PINS@
)
"$VENV/bin/python" -m pip install --no-cache-dir -e "$KIT" "${PINS[@]}"

# The sandboxed children run as users of their own where the image lacks Landlock: they must reach the
# interpreter (every user may pass through the folders above it), never the solutions or the secret.
"$VENV/bin/python" -c '
import os, sys
from pathlib import Path
for start in {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(os.path.realpath(sys.executable))}:
    for folder in start.parents:
        if not folder.stat().st_mode & 0o001:
            folder.chmod(folder.stat().st_mode | 0o001)
'
chmod -R go-rwx "$KIT/solutions"
[ -f "$ROOT/source/@SECRET@" ] && chmod 600 "$ROOT/source/@SECRET@"

export PATH="$VENV/bin:$PATH"
# JAX's compilation cache, which the sandboxed children read, filled by trusted code.
grade warm
# The reference's observations on every check, computed once here instead of in every submission's run.
python -c 'from grader.engine import references; references.observations()'
"""

RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission, as /autograder/run_autograder, in /autograder.
# Written by `grade gradescope` from the grading kit. @ROOT_ENV@ replaces /autograder (the kit's tests set it).
set -uo pipefail

ROOT="${@ROOT_ENV@:-/autograder}"
SUBMISSION="$ROOT/submission"
RESULTS="$ROOT/results/results.json"
SECRET_FILE="$ROOT/source/@SECRET@"
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$ROOT/cache}"   # where setup.sh filled the caches
if [ -x "$ROOT/venv/bin/grade" ]; then
    export PATH="$ROOT/venv/bin:$PATH"
fi
mkdir -p "$ROOT/results"

# results.json for a run in which the grader itself failed: score 0, and a message that says it is not
# the student's work that failed. $1: what happened; $2: the grader's own error lines.
grader_failed() {
    python3 -c '
import json, sys
results, what, errors = sys.argv[1:4]
text = ("The autograder could not grade this submission: " + what + ". This is a problem with the "
        "grader, not with your code. Your instructor can see the details; please tell them, and submit again "
        "later.")
if errors.strip():
    text += "\\n\\n" + errors.strip()
with open(results, "w") as f:
    json.dump({"score": 0, "output": text, "output_format": "text", "tests": []}, f, indent=2)
' "$RESULTS" "$1" "$2"
}

# The student's Gradescope id: the first user's in submission_metadata.json, else the submission's id.
student_id() {
    python3 -c '
import json, sys
try:
    with open(sys.argv[1]) as f:
        meta = json.load(f)
    users = meta.get("users") or [{}]
    found = users[0].get("id") if isinstance(users[0], dict) else None
    found = meta.get("id") if found is None else found
except Exception:  # no metadata, or not as documented
    found = None
print("unknown" if found is None else found)
' "$ROOT/submission_metadata.json"
}

# The exercise files, found and copied into a fresh folder by the kit (grader/locate.py): the submission's top
# level, its exercises/ folder, or a repository's folder further down. Only regular .py files are copied; no
# symbolic link is followed (one could point at the autograder's own files) and no odd name is used. It prints
# "grading <folder>" (escaped, one line) and its notes; notes.md gets what the student should read first
# (nothing found, files skipped). Nothing found: the empty folder is graded, every function missing.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if ! python3 -I -m grader.locate --copy-to "$WORK/exercises" --notes "$WORK/notes.md" "$SUBMISSION" \\
        2>"$WORK/stderr"; then
    cat "$WORK/stderr" >&2
    grader_failed "the submission could not be copied" "$(tail -n 5 "$WORK/stderr")"
    exit 0
fi

# The solutions and the secret stay root's alone: where the container has no Landlock, the sandboxed children
# run as users of their own, to whom only these modes keep them unreadable. Grading refuses to run without one of
# the two (--require-containment)@UNCONFINED_NOTE@.
chmod -R go-rwx "$ROOT/source/@KIT_DIR@/solutions" 2>/dev/null || true
[ -f "$SECRET_FILE" ] && chmod 600 "$SECRET_FILE"
ARGS=("$WORK/exercises" --format gradescope --output "$RESULTS" --quiet --require-containment@UNCONFINED@)
if [ -f "$SECRET_FILE" ]; then
    ARGS+=(--secret-file "$SECRET_FILE" --student-id "$(student_id)")
fi
if [ -f "$ROOT/source/grading.toml" ]; then  # the course file the autograder was written with
    ARGS+=(--course "$ROOT/source/grading.toml")
fi
rm -f "$RESULTS"
grade "${ARGS[@]}" 2>"$WORK/stderr"
status=$?
cat "$WORK/stderr" >&2
errors="$(grep '^grade' "$WORK/stderr" | tail -n 5)"
if [ "$status" -eq 2 ]; then
    grader_failed "the grader could not run (exit status 2)" "$errors"
elif [ "$status" -ne 0 ] || [ ! -s "$RESULTS" ]; then
    grader_failed "the grader stopped unexpectedly (exit status $status)" "$errors"
else
    if [ -s "$WORK/notes.md" ]; then  # what the student should read first, above their results
        python3 -c '
import json, sys
results, notes = sys.argv[1:3]
with open(results) as f:
    data = json.load(f)
with open(notes) as f:
    data["output"] = f.read() + "\\n" + data.get("output", "")
with open(results, "w") as f:
    json.dump(data, f, indent=2)
' "$RESULTS" "$WORK/notes.md" || true
    fi
    # for staff (this output is theirs only): the confinement the container allowed the sandbox
    python3 -c '
import json, sys
results = json.load(open(sys.argv[1]))
print("score", results.get("score"), "| sandbox:", results.get("extra_data", {}).get("isolation", {}).get("summary"))
' "$RESULTS" || true
fi
exit 0
"""

README = """\
# Gradescope autograder

Written by `grade gradescope` from the deep-learning basics grading kit.

## Upload

Zip the *contents* of this folder (not the folder itself), then upload `autograder.zip` as the autograder of
a Programming Assignment (Settings → Configure Autograder), on an Ubuntu base image:

```bash
cd @DIR@ && zip -r ../autograder.zip .
```

Gradescope runs `setup.sh` once while it builds the image: it installs the kit in `kit/` with its pinned
dependencies into `/autograder/venv` and fills the caches with trusted code. Each submission then runs
`run_autograder`, which grades a copy of the submission with `grade` (students may upload the exercise
files themselves, their `exercises/` folder, or their repository's folder; only regular `.py` files are copied,
and symbolic links are not followed) and writes `results.json`.

The autograder's points: @POINTS@.

## What students see

- One test per rubric check with its points and, when it fails, the feedback; a summary with the points of
  each function and training, and what to fix first.
@SECRET_NOTE@- If the grader itself cannot run, a score of 0 and a message saying it is not their code's fault; the
  details are in the autograder output, which only staff see.
- No leaderboard: every correct submission trains the same models (fixed seeds and settings), so there is
  nothing to rank; leave the assignment's leaderboard setting off.

`kit/solutions/` is the reference. Gradescope never shows an autograder's files to students.
"""

SECRET_NOTES = {
    True: "- Once you publish the grades, the hidden per-student checks: `secret` holds your secret, and\n"
          "  `run_autograder` passes it to `grade` with the student's Gradescope id. Keep this folder and its zip\n"
          "  private.\n",
    False: "",
}


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], template)


def setup_script(pyproject: dict | None = None) -> str:
    pyproject = pyproject or _kit_pyproject()
    major, minor = minimum_python(pyproject)
    pins = "\n".join(f"    {shlex.quote(pin)}" for pin in pinned_dependencies(pyproject))
    return _fill(SETUP, {"ROOT_ENV": ROOT_ENV, "KIT_DIR": KIT_DIR, "SECRET": SECRET, "MIN_DOTTED": f"{major}.{minor}",
                         "MIN_TUPLE": f"({major}, {minor})", "PINS": pins})


def run_script(allow_unconfined: bool = False) -> str:
    return _fill(RUN, {"ROOT_ENV": ROOT_ENV, "SECRET": SECRET, "KIT_DIR": KIT_DIR,
                       "UNCONFINED": " --allow-unconfined" if allow_unconfined else "",
                       "UNCONFINED_NOTE": ", unless the instructor allowed it (grade gradescope --allow-unconfined)"
                       if allow_unconfined else ""})


def readme(target: Path, with_secret: bool) -> str:
    public, hidden = rubric.MAX_SCORE, getattr(rubric, "HIDDEN_MAX_SCORE", 0)
    points = f"{public:g}"
    if with_secret and hidden:
        points = f"{public + hidden:g} ({public:g} for the checks, {hidden:g} for the hidden ones)"
    return _fill(README, {"DIR": shlex.quote(str(target)), "SECRET_NOTE": SECRET_NOTES[with_secret], "POINTS": points})


def _problems(target: Path) -> list[str]:
    if not (KIT / "solutions").is_dir():
        return [f"no solutions/ beside {GRADER}: write the autograder from the kit's checkout"]
    resolved = target.resolve()
    if resolved == KIT or any(resolved.is_relative_to(KIT / d) for d in KIT_FOLDERS):
        return [f"{target} is inside the kit's sources"]
    if KIT.is_relative_to(resolved / KIT_DIR):  # writing DIR/kit would replace the kit itself
        return [f"{target / KIT_DIR} holds the kit's own checkout"]
    return []


def write_autograder(target_dir: str | Path, force: bool = False, secret_file: str | Path | None = None,
                     allow_unconfined: bool = False) -> Path:
    """Write the autograder into ``target_dir`` (see the module docstring); return its path.

    A non-empty ``target_dir`` is refused unless ``force``, which replaces what an earlier autograder wrote
    there (its ``secret`` too: without ``secret_file`` the new one has none). Raises
    :class:`grader.cli.CannotRun` when it cannot write.
    """
    target = Path(target_dir)
    if target.exists() and not target.is_dir():
        raise CannotRun(f"{target} is not a directory")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise CannotRun(f"{target} is not empty (use --force to write into it anyway)")
    secret = None
    if secret_file is not None:  # read first: it may be the secret of the autograder this one replaces
        try:
            secret = Path(secret_file).read_bytes()
        except OSError as exc:
            raise CannotRun(f"cannot read the secret file {secret_file}: {exc.strerror or exc}") from None
    problems = _problems(target)
    if problems:
        raise CannotRun("; ".join(problems))

    target.mkdir(parents=True, exist_ok=True)
    kit = target / KIT_DIR
    shutil.rmtree(kit, ignore_errors=True)
    kit.mkdir()
    for name in KIT_FILES:
        shutil.copy2(KIT / name, kit / name)
    for folder in KIT_FOLDERS:
        shutil.copytree(KIT / folder, kit / folder, ignore=_ignore("*.egg-info"))
    for name, text, mode in (("setup.sh", setup_script(), 0o755),
                             ("run_autograder", run_script(allow_unconfined), 0o755),
                             ("README.md", readme(target, secret is not None), 0o644)):
        path = target / name
        path.write_text(text)
        path.chmod(mode)
    from grader import course_file as course
    (target / course.COURSE_FILE).unlink(missing_ok=True)
    course.current().write_into(target)  # run_autograder grades with it (--course)
    (target / SECRET).unlink(missing_ok=True)
    if secret is not None:
        fd = os.open(target / SECRET, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secret)
    return target


def main(argv: list[str] | None = None) -> int:
    """``grade gradescope DIR [--secret-file FILE] [--force]``."""
    parser = argparse.ArgumentParser(prog="grade gradescope",
                                     description="Write a Gradescope autograder (setup.sh, run_autograder, the kit "
                                                 "and its reference solutions) into DIR.")
    parser.add_argument("dir", help="where to write the autograder (new or empty); zip its contents to upload")
    parser.add_argument("--secret-file", metavar="FILE",
                        help="the instructor's secret, copied into DIR/secret, so the hidden per-student checks run")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty DIR, replacing what an earlier autograder wrote (its secret too)")
    parser.add_argument("--allow-unconfined", action="store_true",
                        help="grade even in an image where neither Landlock nor a user of the children's own keeps "
                             "the solutions and the secret out of the graded code's reach (by default such a run "
                             "gives the student the grader-failure result)")
    parser.add_argument("--course", metavar="FILE",
                        help="the course file to grade with (default: grading.toml here, if any), copied into DIR")
    args = parser.parse_args(argv)
    from grader.options import GradeOptions
    GradeOptions(course=args.course).with_course()
    try:
        target = write_autograder(args.dir, force=args.force, secret_file=args.secret_file,
                                  allow_unconfined=args.allow_unconfined)
    except CannotRun as exc:
        raise exc.said_by("grade gradescope") from None
    print(textwrap.dedent(f"""\
        wrote the Gradescope autograder to {target}{' (with the secret)' if args.secret_file else ''}
        upload: cd {shlex.quote(str(target))} && zip -r ../autograder.zip ."""))
    return 0


if __name__ == "__main__":  # the command's errors become a message and a status where grade's do
    from grader import cli
    sys.exit(cli.main(["gradescope", *sys.argv[1:]]))
