"""The sandboxed child: import a submission, run the probes, send observations to the parent.

Run only by :mod:`grader.sandbox` as ``python -I -c <boot> FD SUBMISSION PROBES BROKEN_JSON DATASPEC_JSON``;
it never judges.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> None:
    fd, directory, probes, broken = int(argv[0]), argv[1], [p for p in argv[2].split(",") if p], json.loads(argv[3])
    out = os.fdopen(fd, "wb", buffering=0)
    from . import datasets, grading, submission, wire

    data = datasets.DataSpec.from_json(argv[4])
    def send(kind: str, payload: bytes) -> None:
        out.write(wire.frame(kind, payload))

    functions, errors = submission.load_functions(
        directory, broken=broken, on_import=lambda m: send("I", m.encode()))
    send("L", json.dumps(errors).encode())
    for name in probes:
        send("S", name.encode())
        obs = grading.observe(functions, errors, [name], data)[name]
        send("R", wire.encode_observations(name, obs))
    out.close()
    # Leave at once: student code may have left threads or atexit handlers behind.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
