"""The wire between the sandboxed child and the parent: authenticated frames and bounded observations."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader.checks.common import Observations
from grader.engine import wire

KIT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


# -- helpers -----------------------------------------------------------------------------------------------

def through_pipe(key: bytes, frames: list[tuple[str, bytes]]) -> bytes:
    """Send ``frames`` with a FrameWriter on one end of a real pipe; return every byte read at the other."""
    read_fd, write_fd = os.pipe()
    writer = wire.FrameWriter(write_fd, key)
    failures = []

    def write() -> None:
        try:
            for kind, payload in frames:
                writer.send(kind, payload)
        except BaseException as exc:  # reported by the reading side
            failures.append(exc)
        finally:
            writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    chunks = []
    try:
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        thread.join()
    assert not failures, failures
    return b"".join(chunks)


def peak_bytes(fn) -> int:
    """Peak of traced allocations (NumPy's arrays included) while running ``fn``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def npy(dtype_descr, shape, data: bytes, fortran_order: bool = False) -> bytes:
    """A .npy member written by hand: a version 1.0 header that says whatever we like, then ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype_descr, "fortran_order": fortran_order,
                                               "shape": shape})
    return buf.getvalue() + data


def npz(members: dict[str, bytes] | list[tuple[str, bytes]], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    items = members.items() if isinstance(members, dict) else members
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(buf, "w", compression=compression) as archive:
            for name, data in items:
                archive.writestr(name, data)
    return buf.getvalue()


def header_members(probe: str = "softmax", errors: dict | None = None) -> dict[str, bytes]:
    def save(arr):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arr)
        return buf.getvalue()
    return {"__probe__.npy": save(np.array(probe)), "__errors__.npy": save(np.array(json.dumps(errors or {})))}


def savez(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, __probe__=np.array("softmax"), __errors__=np.array("{}"), **arrays)
    return buf.getvalue()


# -- frames ------------------------------------------------------------------------------------------------

def test_round_trip_of_every_kind_whole_and_split():
    key = wire.new_key()
    obs = wire.encode_observations("relu", Observations({"out": np.arange(6.0).reshape(2, 3)}))
    sent = [("I", b"softmax_regression"), ("L", json.dumps({"relu": "no function"}).encode()),
            ("T", b'{"hits": {}, "notes": []}'), ("S", b"relu"), ("R", obs), ("S", b""), ("R", b"")]
    stream = through_pipe(key, sent)

    assert wire.FrameReader(key).feed(stream) == sent            # coalesced: everything at once

    reader, got = wire.FrameReader(key), []
    for i in range(len(stream)):                                  # split: one byte at a time
        got += reader.feed(stream[i:i + 1])
    assert got == sent and reader.pending == 0

    reader, got, pos = wire.FrameReader(key), [], 0
    for size in [3, 1, 40, 7, 1000, 2, 5] * 100:                  # ragged pieces across frame boundaries
        got += reader.feed(stream[pos:pos + size])
        pos += size
    assert got == sent


def test_partial_writes_are_completed(monkeypatch):
    key = wire.new_key()
    payload = os.urandom(3 * MiB)
    real_write, calls = os.write, []

    def short_write(fd, data):
        calls.append(1)
        return real_write(fd, bytes(memoryview(data)[:4093]))

    monkeypatch.setattr(os, "write", short_write)
    stream = through_pipe(key, [("R", payload), ("S", b"next")])
    monkeypatch.undo()
    assert len(calls) > 700
    assert wire.FrameReader(key).feed(stream) == [("R", payload), ("S", b"next")]


def test_a_frame_without_the_key_or_with_another_is_rejected():
    key = wire.new_key()
    good = through_pipe(key, [("I", b"mlp")])
    unauthenticated = struct.pack(">IB", 5, ord("R")) + b"hello" + bytes(32)
    for forged in (unauthenticated, wire.frame("R", b"hello", wire.new_key(), 0)):
        with pytest.raises(wire.WireError, match="did not write"):
            wire.FrameReader(key).feed(forged)
        reader = wire.FrameReader(key)                # a forged frame after a good one
        assert reader.feed(good) == [("I", b"mlp")]
        with pytest.raises(wire.WireError, match="did not write"):
            reader.feed(forged)
        with pytest.raises(wire.WireError):           # and the reader stays broken
            reader.feed(wire.frame("S", b"x", key, 1))
    tampered = bytearray(good)
    tampered[6] ^= 1
    with pytest.raises(wire.WireError, match="did not write"):
        wire.FrameReader(key).feed(bytes(tampered))


def test_replayed_or_reordered_frames_are_rejected():
    key = wire.new_key()
    stream = through_pipe(key, [("S", b"relu"), ("R", b"first"), ("R", b"second")])
    first_len = 5 + 4 + 32
    s, r1 = stream[:first_len], stream[first_len:first_len + 5 + 5 + 32]
    r2 = stream[first_len + len(r1):]
    assert wire.FrameReader(key).feed(s + r1 + r2) == [("S", b"relu"), ("R", b"first"), ("R", b"second")]

    reader = wire.FrameReader(key)                    # the same frame twice
    assert reader.feed(s + r1) == [("S", b"relu"), ("R", b"first")]
    with pytest.raises(wire.WireError, match="did not write"):
        reader.feed(r1)

    reader = wire.FrameReader(key)                    # two frames swapped
    assert reader.feed(s) == [("S", b"relu")]
    with pytest.raises(wire.WireError, match="did not write"):
        reader.feed(r2 + r1)

    reader = wire.FrameReader(key)                    # a frame dropped
    with pytest.raises(wire.WireError, match="did not write"):
        reader.feed(s + r2)


def test_an_oversized_or_unknown_header_is_rejected_before_buffering():
    key = wire.new_key()
    header = struct.pack(">IB", 0xFFFFFFFF, ord("R"))  # claims 4 GiB

    def feed_header():
        with pytest.raises(wire.WireError, match="larger than"):
            wire.FrameReader(key).feed(header)
    assert peak_bytes(feed_header) < MiB

    with pytest.raises(wire.WireError, match="larger than"):
        wire.FrameReader(key, max_frame=100).feed(struct.pack(">IB", 101, ord("R")))
    with pytest.raises(wire.WireError, match="unknown kind"):
        wire.FrameReader(key).feed(struct.pack(">IB", 3, ord("X")))
    assert wire.MAX_FRAME <= 64 * MiB


def test_the_writer_refuses_what_the_reader_would_and_keeps_no_plain_key():
    read_fd, write_fd = os.pipe()
    key = wire.new_key()
    writer = wire.FrameWriter(write_fd, key, max_frame=10)
    with pytest.raises(wire.WireError, match="unknown"):
        writer.send("X", b"")
    with pytest.raises(wire.WireError, match="larger than"):
        writer.send("R", bytes(11))
    assert not hasattr(writer, "__dict__") and key.hex() not in repr(writer)
    writer.send("R", bytes(10))
    writer.close()
    writer.close()
    with pytest.raises(wire.WireError, match="closed"):
        writer.send("S", b"")
    data = os.read(read_fd, 1000)
    os.close(read_fd)
    assert wire.FrameReader(key).feed(data) == [("R", bytes(10))]
    with pytest.raises(wire.WireError):
        wire.FrameWriter(os.pipe()[1], b"short")


def test_key_handover():
    key = wire.new_key()
    assert len(key) == 32 and key != wire.new_key()
    read_fd, write_fd = os.pipe()
    wire.send_key(write_fd, key)
    assert wire.receive_key(read_fd) == key
    with pytest.raises(OSError):
        os.close(read_fd)                             # both ends were closed

    for given in (b"", os.urandom(31)):
        read_fd, write_fd = os.pipe()
        os.write(write_fd, given)
        os.close(write_fd)
        with pytest.raises(wire.WireError, match=f"gave {len(given)} bytes"):
            wire.receive_key(read_fd)


CHILD = """
import os, sys
from grader.engine import wire
key = wire.receive_key(int(sys.argv[1]))
fd, mode = int(sys.argv[2]), sys.argv[3]
if mode == "student":  # what student code can do without the key: write a frame of its own, then leave
    obs = wire.Observations({"out": wire.np.ones(3)})
    os.write(fd, wire.frame("R", wire.encode_observations("relu", obs), wire.new_key(), 0))
    os._exit(0)
writer = wire.FrameWriter(fd, key)
del key
writer.send("I", b"mlp")
writer.send("L", b"{}")
writer.close()
"""


@pytest.mark.end_to_end
@pytest.mark.parametrize("mode", ["grader", "student"])
def test_a_child_process_with_the_key_is_heard_and_one_without_is_not(mode):
    key = wire.new_key()
    key_r, key_w = os.pipe()
    out_r, out_w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(key_r), str(out_w), mode], cwd=KIT,
                            pass_fds=(key_r, out_w), stdin=subprocess.DEVNULL)
    os.close(key_r)
    os.close(out_w)
    wire.send_key(key_w, key)
    chunks = []
    while chunk := os.read(out_r, 65536):
        chunks.append(chunk)
    os.close(out_r)
    assert proc.wait(timeout=60) == 0
    reader = wire.FrameReader(key)
    if mode == "grader":
        assert reader.feed(b"".join(chunks)) == [("I", b"mlp"), ("L", b"{}")]
    else:
        with pytest.raises(wire.WireError, match="did not write"):
            reader.feed(b"".join(chunks))


# -- observations ------------------------------------------------------------------------------------------

def test_observations_round_trip():
    values = {"f": np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4), "i": np.arange(5, dtype=np.int64),
              "u": np.array([1, 2], dtype=np.uint8), "b": np.array([True, False]), "t": np.array("PyTreeDef(*)"),
              "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "empty": np.zeros((0, 3)),
              "scalar": np.float64(2.5)}
    errors = {"softmax.large": "softmax raised ValueError", "long": "x" * 5000}
    budget = wire.Budget(MiB)
    probe, obs = wire.decode_observations(wire.encode_observations("softmax", Observations(values, errors)),
                                          budget)
    assert probe == "softmax"
    assert set(obs.values) == set(values)
    for k, v in values.items():
        assert obs[k].dtype == np.asarray(v).dtype and obs[k].shape == np.shape(v)
        np.testing.assert_array_equal(obs[k], v)
    assert obs.values["fortran"].flags.f_contiguous
    assert obs.errors == {"softmax.large": "softmax raised ValueError", "long": "x" * 2000}
    obs.values["f"][0, 0] = 7  # ordinary writable arrays
    assert 0 < MiB - budget.remaining < 64 * 1024


def test_compressed_members_are_refused_without_expanding_them():
    buf = io.BytesIO()
    zeros = np.zeros(100_000_000, dtype=np.uint8)
    np.savez_compressed(buf, __probe__=np.array("softmax"), __errors__=np.array("{}"), **{"v:zeros": zeros})
    del zeros
    payload = buf.getvalue()
    assert len(payload) < MiB  # 100 MB of zeros squeeze to ~100 KB

    def decode():
        with pytest.raises(wire.WireError, match="compressed"):
            wire.decode_observations(payload)
    assert peak_bytes(decode) < 4 * MiB

    def sanity():  # the measure sees NumPy's allocations
        np.ones(8 * MiB, dtype=np.uint8)
    assert peak_bytes(sanity) >= 8 * MiB


def test_object_and_structured_arrays_are_refused():
    with pytest.raises(wire.WireError, match="dtype object"):
        wire.decode_observations(savez(**{"v:x": np.array([1, "a", None], dtype=object)}))
    structured = np.zeros(3, dtype=[("a", "<f8"), ("b", "<i4")])
    with pytest.raises(wire.WireError, match="not accepted"):
        wire.decode_observations(savez(**{"v:x": structured}))
    with pytest.raises(wire.WireError, match="not accepted"):
        wire.decode_observations(savez(**{"v:x": np.array(["2024-01-01"], dtype="datetime64[D]")}))
    members = header_members()
    members["v:x.npy"] = npy(("<f8", (3,)), (2,), bytes(48))  # a subarray dtype, written by hand
    with pytest.raises(wire.WireError, match="not accepted"):
        wire.decode_observations(npz(members))


def test_a_header_claiming_more_than_the_budget_is_refused_before_reading():
    members = header_members()
    members["v:huge.npy"] = npy("<f8", (2 ** 40,), bytes(64))  # claims 8 TiB, holds 64 bytes
    payload = npz(members)
    budget = wire.Budget(wire.DEFAULT_BUDGET)

    def decode():
        with pytest.raises(wire.WireError, match="exceeds the budget of 256 MiB for one submission"):
            wire.decode_observations(payload, budget)
    assert peak_bytes(decode) < MiB
    assert budget.remaining == wire.DEFAULT_BUDGET == 256 * MiB


def test_one_budget_across_decodes_runs_out_on_the_third():
    budget = wire.Budget(5 * MiB // 2)
    payload = savez(**{"v:w": np.zeros(MiB // 8)})  # 1 MiB of float64
    for _ in range(2):
        probe, obs = wire.decode_observations(payload, budget)
        assert obs["w"].nbytes == MiB
    left = budget.remaining
    assert left < MiB // 2
    with pytest.raises(wire.WireError, match="exceeds the budget of 2.5 MiB"):
        wire.decode_observations(payload, budget)
    assert budget.remaining == left  # a refused decode charges nothing
    # the text of __errors__ counts too
    errors = json.dumps({"a": "y" * (MiB // 4)})
    buf = io.BytesIO()
    np.savez(buf, __probe__=np.array("relu"), __errors__=np.array(errors))
    with pytest.raises(wire.WireError, match="budget"):
        wire.decode_observations(buf.getvalue(), wire.Budget(MiB // 2))


def test_a_member_whose_stored_size_disagrees_with_its_header_is_refused():
    for data in (bytes(40), bytes(160)):  # the header says 10 float64: 80 bytes
        members = header_members()
        members["v:x.npy"] = npy("<f8", (10,), data)
        budget = wire.Budget(MiB)
        with pytest.raises(wire.WireError, match="bytes stored, but its header says"):
            wire.decode_observations(npz(members), budget)
        assert budget.remaining == MiB
    members = header_members()
    members["v:x.npy"] = npy("<f8", (10,), np.arange(10.0).tobytes())
    assert wire.decode_observations(npz(members))[1]["x"][3] == 3.0


def test_a_member_claiming_more_bytes_than_its_frame_carries_is_refused_before_reading():
    """A zip directory that says a member stores 64 MiB (the .npy header agreeing) in a frame of a few hundred
    bytes: refused from the directory, before the 64 MiB are charged or allocated."""
    members = header_members()
    claimed = 64 * MiB
    header = npy("<f8", (claimed // 8,), b"")
    members["v:x.npy"] = header + bytes(64)
    lying = bytearray(npz(members))
    for signature, offset in ((b"PK\x03\x04", 18), (b"PK\x01\x02", 20)):  # local and central headers
        at = lying.index(b"v:x.npy", lying.index(signature)) - (30 if signature == b"PK\x03\x04" else 46)
        assert lying[at:at + 4] == signature
        lying[at + offset:at + offset + 8] = struct.pack("<II", len(header) + claimed, len(header) + claimed)
    budget = wire.Budget(wire.DEFAULT_BUDGET)

    def decode():
        with pytest.raises(wire.WireError, match="more than the .* bytes of their frame"):
            wire.decode_observations(bytes(lying), budget)
    assert peak_bytes(decode) < MiB
    assert budget.remaining == wire.DEFAULT_BUDGET


def test_malformed_archives_are_refused():
    ok = header_members()
    ok["v:x.npy"] = npy("<i8", (2,), bytes(16))
    cases = {
        "unexpected member": {**ok, "v:y.txt": b"hello"},
        "name an array twice": list(ok.items()) + [("v:x.npy", ok["v:x.npy"])],
        "unexpected entry": {**ok, "w:x.npy": ok["v:x.npy"]},
        "without header": {k: v for k, v in ok.items() if k != "__probe__.npy"},
        "bad shape": {**ok, "v:x.npy": npy("<i8", (-2,), b"")},
    }
    for message, members in cases.items():
        with pytest.raises(wire.WireError, match=message):
            wire.decode_observations(npz(members))
    too_many = dict(ok, **{f"v:{i}.npy": npy("|u1", (0,), b"") for i in range(wire.MAX_ARRAYS)})
    with pytest.raises(wire.WireError, match="at most 4096"):
        wire.decode_observations(npz(too_many))
    lying = bytearray(npz(too_many))                 # an end record that understates the entries
    lying[-14:-10] = struct.pack("<HH", 3, 3)
    with pytest.raises(wire.WireError, match="malformed"):
        wire.decode_observations(bytes(lying))
    for junk in (b"", b"not a zip", npz(ok)[:-5], npz(ok) + b"comment"):
        with pytest.raises(wire.WireError):
            wire.decode_observations(junk)
    bad_errors = header_members(errors=None)
    bad_errors["__errors__.npy"] = header_members()["__probe__.npy"]  # "softmax" is not JSON
    with pytest.raises(wire.WireError, match="without header"):
        wire.decode_observations(npz(bad_errors))
    corrupt = bytearray(npz(ok))
    corrupt[corrupt.index(b"v:x.npy") + 7 + 128] ^= 0xFF  # a byte of the data: the CRC catches it
    with pytest.raises(wire.WireError):
        wire.decode_observations(bytes(corrupt))


def test_budget_accounting():
    budget = wire.Budget(100)
    budget.charge(60)
    assert budget.remaining == 40
    with pytest.raises(wire.WireError, match="for one submission"):
        budget.charge(41)
    budget.charge(40)
    assert budget.remaining == 0
    budget.release(100)
    assert budget.remaining == 100
