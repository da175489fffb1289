"""An append-only log of multipart messages on disk (a write-ahead log).

Record layout: magic b"RLOG", u32 frame count, then per frame u64 length and the bytes,
then a u32 CRC-32 of everything after the magic. Reading stops quietly at a torn tail
(the process died mid-write) and raises on corruption before it, or, for a process that must
restart whatever its log holds, skips damaged records (`salvage`).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
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
        self.bytes = self._file.tell()
        """Size of the log file, what earlier runs left included."""

    def append(self, frames: Sequence[Any]) -> None:
        """Append one record; frames are written as they are (bytes or buffers), not copied."""
        parts: list[Any] = [MAGIC, _COUNT.pack(len(frames))]
        crc = zlib.crc32(parts[1])
        for frame in frames:
            data = frame if isinstance(frame, bytes) else memoryview(frame).cast("B")
            length = _LENGTH.pack(len(data))
            crc = zlib.crc32(data, zlib.crc32(length, crc))
            parts += (length, data)
        parts.append(_CRC.pack(crc))
        self._file.writelines(parts)
        self.records += 1
        self.bytes += sum(len(part) for part in parts)

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
        self.bytes = 0

    def close(self) -> None:
        self._file.close()


def _parse(data: bytes, offset: int) -> tuple[str, list[bytes], int]:
    """("ok", frames, offset after it) for an intact record at `offset`; ("short", ...) for one
    cut off by the end of the data (a torn tail); ("damaged", ...) for anything else."""
    end = len(data)
    if data[offset : offset + 4] != MAGIC:
        return "damaged", [], offset
    cursor = offset + 4 + _COUNT.size
    if cursor > end:
        return "short", [], end
    (count,) = _COUNT.unpack_from(data, offset + 4)
    if count > MAX_FRAMES:
        return "damaged", [], offset
    frames = []
    for _ in range(count):
        if cursor + _LENGTH.size > end:
            return "short", [], end
        (length,) = _LENGTH.unpack_from(data, cursor)
        cursor += _LENGTH.size
        if cursor + length > end:
            return "short", [], end
        frames.append(data[cursor : cursor + length])
        cursor += length
    if cursor + _CRC.size > end:
        return "short", [], end
    (crc,) = _CRC.unpack_from(data, cursor)
    if zlib.crc32(memoryview(data)[offset + 4 : cursor]) != crc:
        return ("short" if cursor + _CRC.size == end else "damaged"), [], end
    return "ok", frames, cursor + _CRC.size


def _next_record(data: bytes, start: int) -> int | None:
    """Offset of the first intact record at or after `start`."""
    position = data.find(MAGIC, start)
    while position != -1:
        if _parse(data, position)[0] == "ok":
            return position
        position = data.find(MAGIC, position + 1)
    return None


def read_log(path: Path | str, *, salvage: Callable[[str], None] | None = None) -> Iterator[list[bytes]]:
    """The records of a log in order; a torn final record (a crash mid-write) is skipped.

    Damage before the end raises SpoolError; with `salvage`, damage is reported to `salvage`
    instead and reading goes on at the next intact record."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    offset, end = 0, len(data)
    while offset < end:
        status, frames, after = _parse(data, offset)
        if status == "ok":
            yield frames
            offset = after
            continue
        if salvage is None:
            if status == "short":
                return
            raise SpoolError(f"{path}: damaged record at byte {offset}")
        following = _next_record(data, offset + 1)
        if following is None and status == "short":
            return
        salvage(f"{path}: damaged record at byte {offset}; {(following or end) - offset} bytes skipped")
        if following is None:
            return
        offset = following
