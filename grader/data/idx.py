"""Reading and writing the IDX format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by a C-ordered array::

    magic        4 bytes: 0x00, 0x00, type code, number of dimensions
    dimensions   one unsigned 32-bit big-endian integer per dimension
    data         the items, big-endian, last dimension varying fastest

The type codes are 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32 and 0x0E float64. Label files
have the magic 0x00000801 (uint8, one dimension), image files 0x00000803 (uint8, three dimensions: count,
rows, columns). Files may be gzip-compressed; they are recognised by their content, not their name.

Every problem (unreadable or corrupt gzip, bad magic number, short header, data shorter or longer than the
dimensions say) raises :class:`IdxError` naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from grader.errors import IdxError

LABELS_MAGIC = 0x00000801
IMAGES_MAGIC = 0x00000803

# type code -> big-endian dtype
_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_SIGNATURE = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise IdxError(path, f"cannot read the file ({e.strerror or e})") from e
    if raw[:2] == _GZIP_SIGNATURE:
        try:
            return gzip.decompress(raw)
        except EOFError as e:
            raise IdxError(path, "truncated gzip data (the compressed stream ends early)") from e
        except (OSError, zlib.error) as e:
            raise IdxError(path, f"corrupt gzip data ({e})") from e
    return raw


def read_idx(path: str | os.PathLike, magic: int | None = None) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzip-compressed or not), in native byte order.

    When ``magic`` is given the file's magic number must equal it.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IdxError(path, f"truncated header: {len(data)} bytes, an IDX file starts with a 4-byte magic number")
    (found,) = struct.unpack(">I", data[:4])
    if magic is not None and found != magic:
        raise IdxError(path, f"wrong magic number 0x{found:08X}, expected 0x{magic:08X}")
    zero, type_code, ndim = found >> 16, (found >> 8) & 0xFF, found & 0xFF
    if zero != 0 or type_code not in _TYPES:
        raise IdxError(path, f"not an IDX file (magic number 0x{found:08X})")
    if ndim == 0:
        raise IdxError(path, f"magic number 0x{found:08X} declares zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(path, f"truncated header: {len(data)} bytes, the {ndim} dimension sizes need {header}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _TYPES[type_code]
    expected = math.prod(dims) * dtype.itemsize
    actual = len(data) - header
    shape = "x".join(map(str, dims))
    if actual < expected:
        raise IdxError(path, f"truncated data: dimensions {shape} need {expected} bytes after the "
                             f"{header}-byte header, found {actual}")
    if actual > expected:
        raise IdxError(path, f"{actual - expected} unexpected bytes after the data of dimensions {shape}")
    array = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """A label file (magic 0x00000801): a one-dimensional uint8 array."""
    return read_idx(path, LABELS_MAGIC)


def read_images(path: str | os.PathLike) -> np.ndarray:
    """An image file (magic 0x00000803): a uint8 array of shape (count, rows, columns)."""
    return read_idx(path, IMAGES_MAGIC)


def write_idx(path: str | os.PathLike, array, gz: bool = True) -> Path:
    """Write ``array`` to ``path`` as an IDX file (gzip-compressed when ``gz``); returns the path.

    uint8 arrays of one dimension get the label magic 0x00000801, of three the image magic 0x00000803.
    """
    path = Path(path)
    array = np.asarray(array)
    for code, dtype in _TYPES.items():
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize:
            break
    else:
        raise TypeError(f"IDX cannot store dtype {array.dtype}; use one of uint8, int8, int16, int32, "
                        "float32, float64")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX stores 1 to 255 dimensions, not {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"IDX dimension sizes must fit in 32 bits: {array.shape}")
    header = struct.pack(">I", (code << 8) | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    if gz:
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
