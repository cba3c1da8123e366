"""The wire format between the sandboxed child and the grading parent.

The child writes frames to a pipe the parent opened: a 4-byte big-endian length, a 1-byte kind, a payload.

=====  =====================================  ==========================================================
kind   meaning                                payload
=====  =====================================  ==========================================================
``I``  about to import a submission module    the module name (UTF-8)
``L``  the submission is loaded               JSON ``{function: error message}`` for what did not load
``S``  about to run a probe                   the probe name (UTF-8)
``R``  a probe's observations                 ``.npz`` bytes: arrays, plus ``__probe__`` and ``__errors__``
=====  =====================================  ==========================================================

Observations travel as ``.npz`` read with ``allow_pickle=False`` and checked: string keys, arrays of
booleans, numbers or text only, bounded in size. Nothing the child sends is unpickled or evaluated.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np

from .checks.common import Observations

MAX_FRAME = 64 * 1024 * 1024
ALLOWED_KINDS = set("biufU")


class WireError(ValueError):
    pass


def frame(kind: str, payload: bytes) -> bytes:
    return struct.pack(">IB", len(payload), ord(kind)) + payload


def encode_observations(probe: str, obs: Observations) -> bytes:
    buf = io.BytesIO()
    arrays = {f"v:{k}": np.asarray(v) for k, v in obs.values.items()}
    arrays["__probe__"] = np.array(probe)
    arrays["__errors__"] = np.array(json.dumps(obs.errors))
    np.savez(buf, **arrays)
    return buf.getvalue()


def decode_observations(payload: bytes) -> tuple[str, Observations]:
    """Parse and validate a probe result; raise WireError on anything unexpected."""
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:
        raise WireError(f"unreadable observations: {exc}") from exc
    try:
        probe = str(arrays.pop("__probe__")[()])
        errors = json.loads(str(arrays.pop("__errors__")[()]))
    except Exception as exc:
        raise WireError(f"observations without header: {exc}") from exc
    if not isinstance(errors, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in errors.items()):
        raise WireError("malformed error messages")
    values = {}
    for key, arr in arrays.items():
        if not key.startswith("v:") or arr.dtype.kind not in ALLOWED_KINDS:
            raise WireError(f"unexpected entry {key!r} of dtype {arr.dtype}")
        values[key[2:]] = arr
    return probe, Observations(values, {k: v[:2000] for k, v in errors.items()})


class FrameReader:
    """Accumulates bytes from the pipe and splits them into (kind, payload) frames."""

    def __init__(self):
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= 5:
            length, kind = struct.unpack(">IB", self.buffer[:5])
            if length > MAX_FRAME:
                raise WireError(f"a frame of {length} bytes is larger than allowed")
            if len(self.buffer) < 5 + length:
                break
            frames.append((chr(kind), bytes(self.buffer[5:5 + length])))
            del self.buffer[:5 + length]
        return frames
