"""The IDX file format of MNIST and Fashion-MNIST: :func:`read_idx`.

Layout: a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32
sizes, then the data in C order, big-endian. Plain or gzip-compressed (recognised by the
content, not the name).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDX_DTYPES", "read_idx"]

#: IDX type code -> big-endian numpy dtype (the format's third magic byte).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head != b"\x1f\x8b":              # gzip magic; decide by content, not name
            return fh.read()
        try:
            with gzip.GzipFile(fileobj=fh) as gz:
                return gz.read()
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"read_idx: {path} is not a valid gzip file ({err})") from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST file format), plain or gzip-compressed.

    Layout: a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
    uint32 dimension sizes, then the data in C order, big-endian. Type codes:
    0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
    A gzip file is recognised by its content (magic bytes 1f 8b), whatever its name.

    Parameters
    ----------
    path : str or os.PathLike
        ``~`` is expanded.

    Returns
    -------
    ndarray
        Of shape given by the header and the corresponding dtype in native byte order
        (e.g. uint8 (60000, 28, 28) for MNIST training images).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        On a bad magic number, an unknown type code, or a file whose length does not
        match its header (truncated or with trailing bytes).
    """
    path = Path(path).expanduser()
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"read_idx: {path} is too short ({len(raw)} bytes) to hold an IDX "
                         f"header")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_DTYPES:
        raise ValueError(f"read_idx: {path} has a bad magic number 0x{raw[:4].hex()}; expected "
                         f"0x0000TTDD with type TT in "
                         f"{{{', '.join(f'{c:02x}' for c in IDX_DTYPES)}}}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} is truncated: {len(raw)} bytes, the header of a "
                         f"{ndim}-d array needs {header}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"read_idx: {path} is {what}: {len(raw)} bytes, a {dtype} array of "
                         f"shape {shape} needs {expected}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))
