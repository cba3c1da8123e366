"""The sandboxed child: confine itself, import a submission, run the probes, send observations to the parent.

Run only by :mod:`grader.engine.sandbox` as
``python -I -c <boot> OUT_FD KEY_FD SEED_FD SUBMISSION PROBES BROKEN_JSON DATASPEC_JSON POLICY_JSON``; it never
judges. The boot command binds nothing in ``__main__``.

Order matters: the kernel confinement (:mod:`grader.engine.confine`) is applied first, while the process has one
thread and before anything else is imported; then the frame key is read from its pipe (and the pipe closed);
then everything the driver uses is imported and bound here (the probing engine, the wire, the dataset, the
run-time tripwire of :mod:`grader.engine.tripwire`), the guard of :mod:`grader.engine.guard` is installed and the
kit's modules are taken out of ``sys.modules``; only then is the first student module imported. The probes run
public first: the hidden probes' seeds (:mod:`grader.engine.secret`) are not in this process until every public
probe has sent its result — the child asks for them with an ``H`` frame, and the parent writes them into the
seed pipe only then — so student code meets its hidden inputs only in its hidden probes.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> None:
    from grader.engine import confine

    out_fd, key_fd, seed_fd, directory = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    probes, broken = [p for p in argv[4].split(",") if p], json.loads(argv[5])
    try:
        confine.apply(confine.Policy.from_json(argv[7]))
    except confine.ConfinementError as exc:
        print(f"confinement failed: {exc}", file=sys.stderr, flush=True)
        os._exit(confine.EXIT_CONFINEMENT)

    from grader.engine import wire
    writer = wire.FrameWriter(out_fd, wire.receive_key(key_fd))

    import grader
    from grader import course_file as course
    from grader import rubric
    from grader.checks.common import Observations
    from grader.data import datasets
    from grader.engine import guard, probing, submission, tripwire, trusted

    course.apply(course.Course.from_json(argv[8]))  # the parent's course file: its forbidden routines
    data = datasets.DataSpec.from_json(argv[6])
    if any(rubric.ALL_PROBES[p].needs_data for p in probes):
        data.load()  # loaded (and cached) by trusted code, before any student import
    observe, encode, send, max_frame = probing.observe, wire.encode_observations, writer.send, wire.MAX_FRAME
    hidden = {p for p in probes if rubric.ALL_PROBES[p].hidden}
    recorder = tripwire.install(directory, rubric.FORBIDDEN_SHORTCUTS, trusted.FUNCTIONS)
    guarded = guard.install(directory, str(grader.PACKAGE_DIR))

    def report_findings() -> None:
        send("T", json.dumps({"hits": recorder.hits, "notes": recorder.notes + guarded.refused}).encode())

    guard.hide_kit()
    guard.protect_modules(guarded)
    functions, errors = submission.load_functions(directory, broken=broken, on_import=lambda m: send("I", m.encode()))
    send("L", json.dumps(errors).encode())
    report_findings()
    seeds: dict[str, int] | None = None
    for name in probes:
        if name in hidden and seeds is None:
            send("H", b"")
            seeds = wire.receive_seeds(seed_fd)
        send("S", name.encode())
        obs = observe(functions, errors, [name], data, seeds)[name]
        payload = encode(name, obs)
        if len(payload) > max_frame:
            obs = Observations()
            obs.fail_all(f"the outputs of {name} are larger than the grader accepts ({len(payload)} bytes)")
            payload = encode(name, obs)
        send("R", payload)
        report_findings()
    writer.close()
    # Leave at once: student code may have left threads or atexit handlers behind.
    os._exit(0)
