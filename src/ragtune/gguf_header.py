"""Key-value metadata from a GGUF file's header, without reading its tensors.

``gguf.GGUFReader`` maps the whole file and builds a numpy view of every field, including the
tokenizer's tens of thousands of strings: 3.6 s for the bundled 135M model on this machine, paid
by every LoRA export. The header is a flat list of typed key-value pairs (GGUF spec,
https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), so reading the few keys asked for,
and skipping the rest by their lengths, takes milliseconds.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

# value type -> struct code of a scalar (GGUF spec, "gguf_metadata_value_type")
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class GGUFHeaderError(ValueError):
    """The file is not a GGUF file this reader understands."""


def gguf_metadata(path: str | Path, keys: set[str] | None = None) -> dict[str, Any]:
    """The header's values for ``keys`` (all keys when None); arrays come back as lists.

    Keys missing from the file are missing from the result. Stops reading once every key asked
    for is found.
    """
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m[:4] != b"GGUF":
            raise GGUFHeaderError(f"{path} is not a GGUF file (no GGUF magic)")
        (version,) = struct.unpack_from("<I", m, 4)
        end = "<" if version & 0xFFFF else ">"  # a big-endian file reads as a byte-swapped version
        if end == ">":
            (version,) = struct.unpack_from(">I", m, 4)
        if version < 2:
            raise GGUFHeaderError(f"{path} is GGUF version {version}; only versions 2 and later are read")
        _, n_kv = struct.unpack_from(end + "QQ", m, 8)
        reader = _Reader(m, 24, end)
        out: dict[str, Any] = {}
        for _ in range(n_kv):
            key = reader.string()
            (vtype,) = reader.unpack("I")
            if keys is None or key in keys:
                out[key] = reader.value(vtype)
                if keys is not None and len(out) == len(keys):
                    break
            else:
                reader.skip(vtype)
        return out


class _Reader:
    def __init__(self, buf: mmap.mmap, pos: int, end: str):
        self.buf, self.pos, self.end = buf, pos, end

    def unpack(self, code: str) -> tuple:
        fmt = self.end + code
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return out

    def string(self) -> str:
        (n,) = self.unpack("Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8", errors="replace")
        self.pos += n
        return s

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])[0]
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item, n = self.unpack("IQ")
            return [self.value(item) for _ in range(n)]
        raise GGUFHeaderError(f"unknown GGUF value type {vtype}")

    def skip(self, vtype: int) -> None:
        if vtype in _SCALARS:
            self.pos += struct.calcsize(_SCALARS[vtype])
        elif vtype == _STRING:
            (n,) = self.unpack("Q")
            self.pos += n
        elif vtype == _ARRAY:
            item, n = self.unpack("IQ")
            if item in _SCALARS:
                self.pos += n * struct.calcsize(_SCALARS[item])
            else:
                for _ in range(n):
                    self.skip(item)
        else:
            raise GGUFHeaderError(f"unknown GGUF value type {vtype}")
