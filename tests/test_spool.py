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


def test_salvage_skips_damaged_records_and_goes_on(tmp_path) -> None:
    log = MessageLog(tmp_path / "wal.log")
    starts = []
    for i in range(6):
        starts.append(log.bytes)
        log.append([b"header %d" % i, memoryview(bytes([i]) * 1000)])
    log.close()
    assert log.bytes == (tmp_path / "wal.log").stat().st_size
    data = bytearray((tmp_path / "wal.log").read_bytes())
    data[starts[1] + 40] ^= 0xFF  # a damaged record
    data[starts[3] : starts[3] + 4] = b"XXXX"  # a record that is no record
    data[starts[4] + 8 : starts[4] + 16] = (10**9).to_bytes(8, "little")  # a length beyond the end
    (tmp_path / "damaged.log").write_bytes(bytes(data[:-3]))  # and a torn tail
    with pytest.raises(SpoolError):
        list(read_log(tmp_path / "damaged.log"))
    reports: list[str] = []
    records = list(read_log(tmp_path / "damaged.log", salvage=reports.append))
    assert [record[0] for record in records] == [b"header 0", b"header 2"]
    assert records[1][1] == bytes([2]) * 1000
    assert len(reports) == 2 and all("damaged record" in report for report in reports)
