"""The sandboxed child: confine itself, import a submission, run the probes, send observations to the parent.

Run only by :mod:`grader.engine.sandbox` as
``python -I -c <boot> OUT_FD KEY_FD SUBMISSION PROBES BROKEN_JSON DATASPEC_JSON POLICY_JSON SEEDS_JSON``; it never
judges. ``SEEDS_JSON`` holds the hidden probes' seeds (never the secret they come from).

Order matters: the kernel confinement (:mod:`grader.engine.confine`) is applied first, while the process has one
thread and before anything else is imported; then the frame key is read from its pipe (and the pipe closed);
then the probe code is imported and the run-time tripwire (:mod:`grader.engine.tripwire`) installed; only then is
the first student module imported.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> None:
    from grader.engine import confine

    out_fd, key_fd, directory = int(argv[0]), int(argv[1]), argv[2]
    probes, broken = [p for p in argv[3].split(",") if p], json.loads(argv[4])
    try:
        confine.apply(confine.Policy.from_json(argv[6]))
    except confine.ConfinementError as exc:
        print(f"confinement failed: {exc}", file=sys.stderr, flush=True)
        os._exit(confine.EXIT_CONFINEMENT)

    from grader.engine import wire
    writer = wire.FrameWriter(out_fd, wire.receive_key(key_fd))

    from grader.data import datasets

    from grader.engine import probing, submission, tripwire, trusted

    from grader import rubric
    from grader.checks.common import Observations

    data = datasets.DataSpec.from_json(argv[5])
    seeds = {str(k): int(v) for k, v in json.loads(argv[7]).items()}
    recorder = tripwire.install(directory, rubric.FORBIDDEN_SHORTCUTS, trusted.FUNCTIONS)

    def report_tripwire() -> None:
        writer.send("T", json.dumps({"hits": recorder.hits, "notes": recorder.notes}).encode())

    functions, errors = submission.load_functions(
        directory, broken=broken, on_import=lambda m: writer.send("I", m.encode()))
    writer.send("L", json.dumps(errors).encode())
    report_tripwire()
    for name in probes:
        writer.send("S", name.encode())
        obs = probing.observe(functions, errors, [name], data, seeds)[name]
        payload = wire.encode_observations(name, obs)
        if len(payload) > wire.MAX_FRAME:
            obs = Observations()
            obs.fail_all(f"the outputs of {name} are larger than the grader accepts ({len(payload)} bytes)")
            payload = wire.encode_observations(name, obs)
        writer.send("R", payload)
        report_tripwire()
    writer.close()
    # Leave at once: student code may have left threads or atexit handlers behind.
    os._exit(0)
