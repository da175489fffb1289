"""An append-only log of multipart messages on disk (a write-ahead log).

Record layout: magic b"RLOG", u32 frame count, then per frame u64 length and the bytes,
then a u32 CRC-32 of everything after the magic. Reading stops quietly at a torn tail
(the process died mid-write) and raises on corruption before it.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

MAGIC = b"RLOG"
_COUNT = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
MAX_FRAMES = 4096


class SpoolError(ValueError):
    """A record before the end of the log is damaged."""


class MessageLog:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 (kept open for the log's lifetime)
        self.records = 0

    def append(self, frames: Sequence[Any]) -> None:
        body = [_COUNT.pack(len(frames))]
        for frame in frames:
            data = bytes(memoryview(frame).cast("B")) if not isinstance(frame, bytes) else frame
            body.append(_LENGTH.pack(len(data)))
            body.append(data)
        payload = b"".join(body)
        self._file.write(MAGIC + payload + _CRC.pack(zlib.crc32(payload)))
        self.records += 1

    def sync(self) -> None:
        """Make everything appended durable (flush to the OS, then to the disk)."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def clear(self) -> None:
        """Drop every record (what they held is stored elsewhere now)."""
        self._file.flush()
        self._file.truncate(0)
        self._file.seek(0)
        os.fsync(self._file.fileno())
        self.records = 0

    def close(self) -> None:
        self._file.close()


def read_log(path: Path | str) -> Iterator[list[bytes]]:
    """The records of a log in order; a torn final record (a crash mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    offset, end = 0, len(data)
    while offset < end:
        start = offset
        if data[offset : offset + 4] != MAGIC:
            raise SpoolError(f"{path}: no record at byte {offset}")
        offset += 4
        if offset + _COUNT.size > end:
            return
        (count,) = _COUNT.unpack_from(data, offset)
        if count > MAX_FRAMES:
            raise SpoolError(f"{path}: record at byte {start} claims {count} frames")
        cursor = offset + _COUNT.size
        frames = []
        for _ in range(count):
            if cursor + _LENGTH.size > end:
                return
            (length,) = _LENGTH.unpack_from(data, cursor)
            cursor += _LENGTH.size
            if cursor + length > end:
                return
            frames.append(data[cursor : cursor + length])
            cursor += length
        if cursor + _CRC.size > end:
            return
        (crc,) = _CRC.unpack_from(data, cursor)
        if zlib.crc32(data[offset:cursor]) != crc:
            if cursor + _CRC.size == end:
                return  # torn tail
            raise SpoolError(f"{path}: damaged record at byte {start}")
        offset = cursor + _CRC.size
        yield frames
