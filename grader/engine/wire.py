"""The wire format between the sandboxed child and the grading parent.

The child writes frames to a pipe the parent opened. Student code runs in that child and can write to the
same pipe, so every frame is authenticated: the parent makes a random 32-byte key per child (:func:`new_key`)
and hands it over through a second pipe (:func:`send_key`) that the child drains once at boot
(:func:`receive_key`), before any student code is imported.

=====================  ===============================================================================
bytes                  field
=====================  ===============================================================================
4                      payload length ``n``, big-endian (at most ``MAX_FRAME``)
1                      kind: ``I``, ``L``, ``S``, ``R``, ``T`` or ``H`` (below)
``n``                  payload
32                     HMAC-SHA256 tag over the frame's sequence number (8 bytes, big-endian), kind and
                       payload, with the child's key
=====================  ===============================================================================

The sequence number counts the frames of one direction (child to parent, the only one) from 0; it is not
sent, both ends count, so a frame replayed, dropped or moved to another place fails its tag.

=====  =====================================  ==========================================================
kind   meaning                                payload
=====  =====================================  ==========================================================
``I``  about to import a submission module    the module name (UTF-8)
``L``  the submission is loaded               JSON ``{function: error message}`` for what did not load
``S``  about to run a probe                   the probe name (UTF-8)
``R``  a probe's observations                 ``.npz`` bytes: arrays, plus ``__probe__`` and ``__errors__``
``T``  the tripwire's record so far           JSON ``{"hits": {function: [routine]}, "notes": [text]}``
``H``  done with the public probes: send the   empty; the parent answers in the seed pipe (:func:`send_seeds`),
       hidden probes' seeds                    the only thing that travels from parent to child after the key
=====  =====================================  ==========================================================

The order of the kinds (which frame may follow which) is the parent's business (:mod:`grader.engine.sandbox`).

Observations travel as an uncompressed ``.npz`` (a zip of stored ``.npy`` members) which is checked before
anything is read: no compressed members (nothing expands), at most ``MAX_ARRAYS`` members, each named
``*.npy`` once, each ``.npy`` header declaring booleans, integers, floats or text (no objects, no structured
dtypes) whose size matches the member's stored size, and members that together store no more bytes than
their frame carries (so no array is allocated beyond what the frame holds, and no two members share bytes).
Every array's bytes are charged to a :class:`Budget` before it is read: ``DEFAULT_BUDGET`` (256 MiB) for all
the observations of one submission, the text of ``__errors__`` and ``__probe__`` included; ``__errors__`` is
also at most ``MAX_ERRORS_TEXT`` (1 Mi characters) of JSON, and each message is cut to 2000 characters. A
frame is at most ``MAX_FRAME`` (32 MiB), refused from its header before its payload is buffered; the
observations of the reference solutions take about 1 MiB in all (on the digits). Nothing the child sends is
unpickled or evaluated.

The parent's memory bound for one submission follows. It holds at most ``DEFAULT_BUDGET`` (256 MiB) of decoded
observations (the arrays of the frame being decoded included), and for each child being read (two at most, one
per lane) at most one frame in flight besides: the bytes :class:`FrameReader` buffers (up to ``MAX_FRAME`` plus
a 1 MiB read) and the payload cut from them (up to ``MAX_FRAME``). Before anything is computed on them, the
observations pass :func:`grader.checks.common.admit`: each must be of the reference's dtype family and hold at
most max(the reference's entries, 65,536), so judging, figures and reports widen nothing beyond the
reference's size (or 512 KiB of float64), and what is refused is let go. So the parent's peak is at most an
honest grading's plus 256 MiB + 2 × 2 × 32 MiB = 384 MiB; ``tests/test_parent_memory.py`` measures it: a
submission whose every function returns a frame's worth of wrongly shaped arrays (176 MiB in all) raised it
from about 300 MiB to 530 MiB.
"""

from __future__ import annotations

import hmac
import io
import json
import math
import os
import secrets
import struct
import threading
import zipfile

import numpy as np

from grader.checks.common import Observations

MiB = 1024 * 1024
MAX_FRAME = 32 * MiB          # the largest payload of one frame
DEFAULT_BUDGET = 256 * MiB    # decoded observations of one submission, all probes together
MAX_ARRAYS = 4096             # members of one .npz
MAX_NAME = 255                # characters of a member's name, and of a probe's name
MAX_ERRORS_TEXT = MiB         # characters of the JSON text of ``__errors__``
MAX_MESSAGE = 2000            # characters kept of each error message
KEY_BYTES = 32
TAG_BYTES = 32
KINDS = frozenset("ILSRTH")
ALLOWED_KINDS = set("biufU")  # dtype kinds: booleans, integers, unsigned integers, floats, text

_HEADER = struct.Struct(">IB")
_SEQ = struct.Struct(">Q")
_CHUNK = MiB


class WireError(ValueError):
    pass


# -- keys and tags -----------------------------------------------------------------------------------------

def new_key() -> bytes:
    """A fresh random key for one child."""
    return secrets.token_bytes(KEY_BYTES)


def _keyed(key: bytes):
    """An HMAC-SHA256 state holding the key (OpenSSL's, opaque to Python); each tag starts from a copy."""
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
        raise WireError(f"a wire key is {KEY_BYTES} bytes")
    return hmac.new(bytes(key), digestmod="sha256")


def _tag(keyed, seq: int, kind: bytes, payload) -> bytes:
    mac = keyed.copy()
    mac.update(_SEQ.pack(seq) + kind)
    mac.update(payload)
    return mac.digest()


def _check_kind(kind: str) -> bytes:
    if not isinstance(kind, str) or kind not in KINDS:
        raise WireError(f"unknown frame kind {kind!r}")
    return kind.encode("ascii")


def frame(kind: str, payload: bytes, key: bytes, seq: int) -> bytes:
    """One whole authenticated frame: the ``seq``-th frame of its direction (for tests and tools)."""
    kind_byte = _check_kind(kind)
    return _HEADER.pack(len(payload), kind_byte[0]) + bytes(payload) + _tag(_keyed(key), seq, kind_byte, payload)


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise WireError("the pipe accepted no bytes")
        view = view[written:]


def send_key(fd: int, key: bytes) -> None:
    """Parent side: write the child's key into the key pipe and close it."""
    try:
        if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
            raise WireError(f"a wire key is {KEY_BYTES} bytes")
        _write_all(fd, key)
    finally:
        os.close(fd)


def _read_pipe(fd: int, most: int, what: str) -> bytes:
    """Read from ``fd`` until its writer closes it or ``most`` bytes have come, then close it."""
    got = b""
    try:
        while len(got) < most:
            chunk = os.read(fd, most - len(got))
            if not chunk:
                break
            got += chunk
    except OSError as exc:
        raise WireError(f"the {what} pipe could not be read ({exc})") from exc
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    return got


def receive_key(fd: int) -> bytes:
    """Child side, once at boot: read exactly the 32-byte key from the key pipe and close it."""
    got = _read_pipe(fd, KEY_BYTES, "key")
    if len(got) != KEY_BYTES:
        raise WireError(f"the key pipe gave {len(got)} bytes, not {KEY_BYTES}")
    return got


MAX_SEEDS_BYTES = 1 << 16


def send_seeds(fd: int, seeds: dict[str, int]) -> None:
    """Parent side: write the hidden probes' seeds (JSON) into the seed pipe and close it. Called only when the
    child asks for them (an ``H`` frame), after every public probe of that child has sent its result."""
    try:
        _write_all(fd, json.dumps({str(k): int(v) for k, v in seeds.items()}).encode())
    finally:
        os.close(fd)


def receive_seeds(fd: int) -> dict[str, int]:
    """Child side, before its first hidden probe: read the seeds until the parent closes the pipe."""
    got = _read_pipe(fd, MAX_SEEDS_BYTES, "seed")
    try:
        return {str(k): int(v) for k, v in json.loads(got.decode()).items()}
    except (ValueError, AttributeError, TypeError) as exc:
        raise WireError(f"the seed pipe gave no seeds ({exc})") from None


# -- frames ------------------------------------------------------------------------------------------------

def _writer(fd: int, keyed, max_frame: int):
    """The writer's state lives in these closure cells only: the fd, the keyed HMAC and the counter."""
    state = {"seq": 0, "open": True}
    lock = threading.Lock()

    def send(kind: str, payload: bytes) -> None:
        kind_byte = _check_kind(kind)
        payload = bytes(payload)
        if len(payload) > max_frame:
            raise WireError(f"a frame of {len(payload)} bytes is larger than the {max_frame} allowed")
        with lock:
            if not state["open"]:
                raise WireError("the frame writer is closed")
            seq = state["seq"]
            state["seq"] = seq + 1
            _write_all(fd, _HEADER.pack(len(payload), kind_byte[0]) + payload + _tag(keyed, seq, kind_byte, payload))

    def close() -> None:
        with lock:
            if state["open"]:
                state["open"] = False
                os.close(fd)

    return send, close


class FrameWriter:
    """Child side: writes whole authenticated frames to ``fd`` (which it owns and closes).

    The key is not kept as bytes, and the keyed state and counter sit in closure cells rather than
    attributes: defence in depth only, as code in the same process can still reach them.
    """

    __slots__ = ("_send", "_close")

    def __init__(self, fd: int, key: bytes, max_frame: int = MAX_FRAME):
        self._send, self._close = _writer(fd, _keyed(key), max_frame)

    def send(self, kind: str, payload: bytes) -> None:
        self._send(kind, payload)

    def close(self) -> None:
        self._close()

    def __repr__(self) -> str:
        return "<FrameWriter>"


class FrameReader:
    """Parent side: accumulates bytes from the pipe and splits them into checked (kind, payload) frames.

    Raises :class:`WireError` on a frame over ``max_frame`` or of an unknown kind (seen in its header, before
    the payload is buffered) and on a frame whose tag is wrong: one the grader did not write, or one replayed
    or out of order. After an error the reader stays broken.
    """

    def __init__(self, key: bytes, max_frame: int = MAX_FRAME):
        self._keyed = _keyed(key)
        self._max_frame = max_frame
        self._seq = 0
        self._buffer = bytearray()
        self._error: str | None = None

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back (nonzero at the end of the stream: a truncated frame)."""
        return len(self._buffer)

    def _fail(self, message: str):
        self._error = message
        self._buffer = bytearray()
        raise WireError(message)

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        if self._error is not None:
            raise WireError(self._error)
        self._buffer += data
        frames = []
        while len(self._buffer) >= _HEADER.size:
            length, kind = _HEADER.unpack_from(self._buffer)
            if length > self._max_frame:
                self._fail(f"a frame of {length} bytes is larger than the {self._max_frame} allowed")
            if chr(kind) not in KINDS:
                self._fail(f"a frame of unknown kind {kind:#04x}")
            end = _HEADER.size + length + TAG_BYTES
            if len(self._buffer) < end:
                break
            view = memoryview(self._buffer)
            try:
                payload = bytes(view[_HEADER.size:_HEADER.size + length])
                tag = bytes(view[_HEADER.size + length:end])
            finally:
                view.release()
            if not hmac.compare_digest(tag, _tag(self._keyed, self._seq, bytes([kind]), payload)):
                self._fail(f"frame {self._seq} is a frame that the grader did not write (its tag is wrong)")
            self._seq += 1
            del self._buffer[:end]
            frames.append((chr(kind), payload))
        return frames


# -- observations ------------------------------------------------------------------------------------------

def _mib(n: int) -> str:
    return f"{n / MiB:.4g} MiB"


class Budget:
    """Bytes of decoded observations one submission may still make the parent hold."""

    def __init__(self, total_bytes: int = DEFAULT_BUDGET):
        self.total = int(total_bytes)
        self.used = 0
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        return self.total - self.used

    def charge(self, n: int) -> None:
        if n < 0:
            raise ValueError("a charge is not negative")
        with self._lock:
            if n > self.total - self.used:
                raise WireError(f"an array of {_mib(n)} (with {_mib(self.used)} already received) exceeds "
                                f"the budget of {_mib(self.total)} for one submission")
            self.used += n

    def release(self, n: int) -> None:
        """Give back a charge for arrays that were dropped (a decode that failed part-way)."""
        with self._lock:
            self.used = max(0, self.used - n)


def encode_observations(probe: str, obs: Observations) -> bytes:
    buf = io.BytesIO()
    arrays = {f"v:{k}": np.asarray(v) for k, v in obs.values.items()}
    arrays["__probe__"] = np.array(probe)
    arrays["__errors__"] = np.array(json.dumps(obs.errors))
    np.savez(buf, **arrays)  # stored, not compressed: the parent refuses compressed members
    return buf.getvalue()


_EOCD = struct.Struct("<4s4H2LH")          # end of central directory record
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # central directory entry


def _check_directory(payload) -> None:
    """Count the zip's central directory entries before :mod:`zipfile` makes an object for each of them."""
    size = len(payload)
    if size < _EOCD.size:
        raise WireError("the observations are not a zip archive")
    sig, disk, cd_disk, disk_entries, entries, cd_size, _, comment = _EOCD.unpack_from(payload, size - _EOCD.size)
    if sig != b"PK\x05\x06" or comment:
        raise WireError("the observations are not a zip archive as numpy writes it (no end record, or a comment)")
    if size >= _EOCD.size + 20 and payload[size - _EOCD.size - 20:size - _EOCD.size - 16] == b"PK\x06\x07":
        raise WireError("the observations use zip64 records")
    if disk or cd_disk or disk_entries != entries:
        raise WireError("the observations are a multi-part zip archive")
    if entries > MAX_ARRAYS:
        raise WireError(f"the observations hold {entries} arrays (at most {MAX_ARRAYS})")
    pos, end, count = size - _EOCD.size - cd_size, size - _EOCD.size, 0
    if pos < 0:
        raise WireError("the zip directory of the observations is cut short")
    while pos < end:
        if count >= entries or pos + _CENTRAL.size > end:
            raise WireError("the zip directory of the observations is malformed")
        fields = _CENTRAL.unpack_from(payload, pos)
        if fields[0] != b"PK\x01\x02":
            raise WireError("the zip directory of the observations is malformed")
        name_length, extra_length, comment_length = fields[12:15]
        if name_length > MAX_NAME:
            raise WireError(f"an array name of the observations is longer than {MAX_NAME} characters")
        pos += _CENTRAL.size + name_length + extra_length + comment_length
        count += 1
    if count != entries:
        raise WireError("the zip directory of the observations is malformed")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> tuple[np.ndarray, int]:
    """Check one member's .npy header, charge its size, then read it. Returns the array and the charge."""
    with archive.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise WireError(f"{info.filename}: .npy format version {version} is not accepted")
        header_bytes = fp.tell()
        if (dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None
                or dtype.kind not in ALLOWED_KINDS or dtype.itemsize == 0):
            raise WireError(f"{info.filename}: arrays of dtype {dtype} are not accepted")
        if not all(isinstance(n, int) and n >= 0 for n in shape) or len(shape) > 32:
            raise WireError(f"{info.filename}: bad shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        budget.charge(nbytes)
        try:
            if info.file_size != header_bytes + nbytes:
                raise WireError(f"{info.filename}: {info.file_size} bytes stored, but its header says "
                                f"{header_bytes} + {nbytes}")
            data = bytearray(nbytes)
            view = memoryview(data)
            pos = 0
            while pos < nbytes:
                chunk = fp.read(min(_CHUNK, nbytes - pos))
                if not chunk:
                    raise WireError(f"{info.filename}: cut short")
                view[pos:pos + len(chunk)] = chunk
                pos += len(chunk)
            view.release()
            if fp.read(1):  # also makes zipfile check the CRC
                raise WireError(f"{info.filename}: longer than its header says")
            array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
        except BaseException:
            budget.release(nbytes)
            raise
    return array, nbytes


def _read_arrays(payload, budget: Budget) -> tuple[dict[str, np.ndarray], int]:
    _check_directory(payload)
    arrays: dict[str, np.ndarray] = {}
    charged = 0
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ARRAYS:
                raise WireError(f"the observations hold {len(infos)} arrays (at most {MAX_ARRAYS})")
            names = [info.filename for info in infos]
            if len(set(names)) != len(names):
                raise WireError("the observations name an array twice")
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise WireError(f"unexpected member {info.filename!r}")
                if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                    raise WireError(f"{info.filename} is compressed; only stored (np.savez) members are read")
                if info.flag_bits & 0x1:
                    raise WireError(f"{info.filename} is encrypted")
            stored = sum(info.file_size for info in infos)
            if stored > len(payload):  # members that overlap, or claim bytes the frame does not carry
                raise WireError(f"the observations' arrays claim {stored} bytes, more than the {len(payload)} "
                                "bytes of their frame")
            for info in infos:
                array, nbytes = _read_member(archive, info, budget)
                charged += nbytes
                arrays[info.filename[:-4]] = array
    except BaseException:
        budget.release(charged)
        raise
    return arrays, charged


def _text(arrays: dict[str, np.ndarray], key: str, limit: int) -> str:
    arr = arrays.pop(key, None)
    if arr is None or arr.shape != () or arr.dtype.kind != "U":
        raise WireError(f"{key} is missing or not a text scalar")
    text = str(arr[()])
    if len(text) > limit:
        raise WireError(f"{key} is longer than {limit} characters")
    return text


def decode_observations(payload: bytes, budget: Budget | None = None) -> tuple[str, Observations]:
    """Parse and validate a probe result, charging its arrays to ``budget`` (one per submission; a fresh
    ``DEFAULT_BUDGET`` when None); raise WireError on anything unexpected, the budget then left as it was."""
    budget = Budget(DEFAULT_BUDGET) if budget is None else budget
    try:
        arrays, charged = _read_arrays(payload, budget)
    except WireError:
        raise
    except Exception as exc:
        raise WireError(f"unreadable observations: {exc}") from exc
    try:
        try:
            probe = _text(arrays, "__probe__", MAX_NAME)
            errors = json.loads(_text(arrays, "__errors__", MAX_ERRORS_TEXT))
        except WireError as exc:
            raise WireError(f"observations without header: {exc}") from exc
        except (ValueError, RecursionError) as exc:
            raise WireError(f"observations without header: {exc}") from exc
        if (not isinstance(errors, dict) or len(errors) > MAX_ARRAYS
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in errors.items())):
            raise WireError("malformed error messages")
        values = {}
        for key, arr in arrays.items():
            if not key.startswith("v:"):
                raise WireError(f"unexpected entry {key!r} of dtype {arr.dtype}")
            values[key[2:]] = arr
    except BaseException:
        budget.release(charged)
        raise
    return probe, Observations(values, {k: v[:MAX_MESSAGE] for k, v in errors.items()})
