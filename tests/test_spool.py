"""Write-ahead log: records come back in order; a torn tail is skipped, damage is reported."""

from __future__ import annotations

import pytest

from wire.spool import MessageLog, SpoolError, read_log


def test_round_trip_and_clear(tmp_path) -> None:
    log = MessageLog(tmp_path / "wal.log")
    records = [[b"header%d" % i, bytes(range(i % 200)) * 3] for i in range(50)]
    for frames in records:
        log.append(frames)
    log.sync()
    assert list(read_log(log.path)) == records
    log.clear()
    log.append([b"after"])
    log.sync()
    assert list(read_log(log.path)) == [[b"after"]]
    log.close()


def test_torn_tail_is_skipped_and_damage_is_reported(tmp_path) -> None:
    log = MessageLog(tmp_path / "wal.log")
    for i in range(3):
        log.append([b"x" * 100, b"%d" % i])
    log.sync()
    log.close()
    data = (tmp_path / "wal.log").read_bytes()
    (tmp_path / "torn.log").write_bytes(data[:-7])
    assert [r[1] for r in read_log(tmp_path / "torn.log")] == [b"0", b"1"]
    damaged = bytearray(data)
    damaged[30] ^= 0xFF
    (tmp_path / "damaged.log").write_bytes(bytes(damaged))
    with pytest.raises(SpoolError, match="damaged"):
        list(read_log(tmp_path / "damaged.log"))
    assert list(read_log(tmp_path / "missing.log")) == []
