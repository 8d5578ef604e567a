"""Reader and writer for wasm-trainer's file format (src/core/CHECKPOINT_FORMAT.md):
safetensors with a CRC-32 `checksum` in `__metadata__`, written with numpy, json,
struct and zlib only (Debian has no `safetensors` Python package).

The writer produces the same bytes as the C++ writer (src/core/safetensors.cc,
`write_safetensors`) for the same tensors and metadata: tensors in name order, no
gaps, JSON with sorted keys and no spaces between tokens (nlohmann's `dump()`),
header padded with spaces to a multiple of 8, checksum = CRC-32 of the whole file
with the 8 digits written as `00000000`.

    tensors, metadata = read("x.safetensors")           # dict name -> np.ndarray
    write("y.safetensors", tensors, {"format": ...})    # adds metadata["checksum"]
"""
import json
import struct
import zlib

import numpy as np

DTYPES = {  # safetensors dtype -> little-endian numpy dtype (the ones the C++ reader knows)
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
}
_BY_NUMPY = {v.newbyteorder("<") if v.itemsize > 1 else v: k for k, v in DTYPES.items()}
CHECKSUM_KEY = b'"checksum":"crc32:'
MAX_HEADER = 16 << 20  # as kMaxHeaderBytes in src/core/safetensors.h


class FormatError(ValueError):
    """The file is not a valid wasm-trainer file; the message says what and what was expected."""


def _dtype_name(a):
    dt = a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype
    if dt not in _BY_NUMPY:
        raise TypeError(f"dtype {a.dtype} is not supported (F32, F64, I64, I32, U8)")
    return _BY_NUMPY[dt]


def crc_with_zeroed_digits(data, digits_at):
    """CRC-32 (zlib's) of `data` with the 8 bytes at `digits_at` read as ASCII '0'."""
    c = zlib.crc32(data[:digits_at])
    c = zlib.crc32(b"00000000", c)
    return zlib.crc32(data[digits_at + 8:], c) & 0xFFFFFFFF


def dumps(tensors, metadata):
    """The file's bytes. `tensors`: name -> array (C order is enforced); `metadata`:
    str -> str. A `checksum` entry is (re)computed."""
    md = {str(k): str(v) for k, v in metadata.items()}
    md["checksum"] = "crc32:00000000"
    header = {"__metadata__": md}
    off = 0
    arrays = []
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        if a.ndim:  # (ascontiguousarray would make a 0-dim array 1-d: num_batches_tracked is 0-dim)
            a = np.ascontiguousarray(a)
        dt = _dtype_name(a)
        a = a.astype(DTYPES[dt], copy=False)
        header[name] = {"dtype": dt, "shape": [int(d) for d in a.shape], "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        arrays.append(a)
    h = json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
    h += b" " * (-len(h) % 8)
    out = bytearray(struct.pack("<Q", len(h)) + h)
    for a in arrays:
        out += a.tobytes()
    at = out.index(CHECKSUM_KEY, 8) + len(CHECKSUM_KEY)
    out[at:at + 8] = b"%08x" % crc_with_zeroed_digits(bytes(out), at)
    return bytes(out)


def write(path, tensors, metadata):
    data = dumps(tensors, metadata)
    with open(path, "wb") as f:
        f.write(data)
    return data


def loads(data, require_checksum=True):
    """Parses and validates a file's bytes like the C++ reader; returns
    (tensors: name -> np.ndarray (a copy), metadata: dict)."""
    data = bytes(data)
    n = len(data)
    if n < 8:
        raise FormatError(f"the file is {n} bytes long: too short (it starts with an 8-byte header length)")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > MAX_HEADER:
        raise FormatError(f"the header length field says {hlen} bytes, more than {MAX_HEADER}: not a checkpoint, or corrupt")
    if hlen < 2 or 8 + hlen > n:
        raise FormatError(f"the file is truncated: its header alone needs {8 + hlen} bytes but the file has {n}")
    try:
        header = json.loads(data[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"the header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise FormatError("the header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError("__metadata__ must be an object whose values are all strings")
    body = memoryview(data)[8 + hlen:]
    spans, tensors = [], {}
    for name, e in header.items():
        where = f'tensor "{name}": '
        if not isinstance(e, dict) or e.get("dtype") not in DTYPES:
            raise FormatError(where + f"dtype {e.get('dtype') if isinstance(e, dict) else e!r} is not one of {sorted(DTYPES)}")
        shape, offs = e.get("shape"), e.get("data_offsets")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise FormatError(where + "shape must be a list of non-negative integers")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) and o >= 0 for o in offs)):
            raise FormatError(where + "data_offsets must be two non-negative integers")
        b, en = offs
        dt = DTYPES[e["dtype"]]
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if b > en or en > len(body):
            raise FormatError(where + f"data_offsets [{b}, {en}] fall outside the data section of {len(body)} bytes")
        if en - b != numel * dt.itemsize:
            raise FormatError(where + f"holds {en - b} bytes but {e['dtype']} {shape} needs {numel * dt.itemsize}")
        tensors[name] = np.frombuffer(body[b:en], dtype=dt).reshape(shape).copy()
        spans.append((b, en, name))
    pos = 0
    for b, en, name in sorted(spans):
        if b != pos:
            raise FormatError(f'tensor "{name}" starts at {b}, expected {pos} (overlap or gap)')
        pos = en
    if pos != len(body):
        raise FormatError(f"{len(body) - pos} unexpected bytes follow the last tensor")
    cs = metadata.get("checksum")
    if cs is None:
        if require_checksum:
            raise FormatError("the file has no checksum in its metadata")
    else:
        hb = data[8:8 + hlen]
        at = hb.find(CHECKSUM_KEY)
        if at < 0 or hb.find(CHECKSUM_KEY, at + 1) >= 0 or len(cs) != 14 or not cs.startswith("crc32:"):
            raise FormatError('the checksum field is malformed (expected "crc32:" and 8 hex digits, once)')
        digits = 8 + at + len(CHECKSUM_KEY)
        actual = "%08x" % crc_with_zeroed_digits(data, digits)
        if cs[6:] != actual:
            raise FormatError(f"checksum mismatch (stored {cs}, computed crc32:{actual}): the file was modified or damaged")
    return tensors, metadata


def read(path, require_checksum=True):
    with open(path, "rb") as f:
        return loads(f.read(), require_checksum)
