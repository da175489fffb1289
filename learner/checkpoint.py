"""Crash-safe checkpoints: one folder per step, written whole or not at all.

    CHECKPOINT_ROOT/step_000000001000/
        manifest.json   format version, step, config, meta, and the size and SHA-256 of each file
        state.pt        tensors only (networks, optimisers, torch RNG), read with weights_only=True
        arrays/*.npy    replay buffers and other arrays, read with allow_pickle=False

A checkpoint is written into a hidden temporary folder (every file fsynced, the manifest
last), which is then renamed into place and the parent folder fsynced: a crash at any point
leaves either the complete new checkpoint or none. Loading checks every checksum, reading each
file once (hashed as it is parsed); a newest checkpoint that fails falls back to the one before
it, with a warning. After each save only
the newest `keep` checkpoints remain.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import torch

log = logging.getLogger(__name__)
T = TypeVar("T")

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE_FILE = "state.pt"
ARRAY_FOLDER = "arrays"
_NAME = re.compile(r"^step_(\d{12})$")
_ARRAY_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or corrupt."""


class IncompatibleCheckpoint(CheckpointError):
    """A checkpoint was written with settings that do not fit this learner."""


@dataclass
class Checkpoint:
    path: Path
    step: int
    config: dict[str, Any]
    meta: dict[str, Any]
    tensors: dict[str, Any]
    arrays: dict[str, np.ndarray]


class _HashingWriter:
    """A write-only file wrapper that hashes what passes through it."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.hash.update(view)
        self.size += view.nbytes
        return self.file.write(view)

    def flush(self) -> None:
        self.file.flush()


def _write_file(path: Path, write: Callable[[Any], None]) -> dict[str, Any]:
    with path.open("wb") as file:
        writer = _HashingWriter(file)
        write(writer)
        file.flush()
        os.fsync(file.fileno())
    return {"sha256": writer.hash.hexdigest(), "bytes": writer.size}


def _npy_writer(array: np.ndarray) -> Callable[[Any], None]:
    def write(file: Any) -> None:
        np.save(file, np.ascontiguousarray(array), allow_pickle=False)

    return write


def _fsync_folder(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def checkpoint_folders(root: Path) -> list[Path]:
    """Complete checkpoint folders under `root`, oldest first."""
    if not root.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in root.iterdir() if (match := _NAME.match(path.name))]
    return [path for _, path in sorted(found)]


def save_checkpoint(
    root: Path,
    step: int,
    *,
    config: Mapping[str, Any],
    meta: Mapping[str, Any],
    tensors: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    keep: int,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(".step_*.tmp"):  # a save that was killed; one learner writes here
        shutil.rmtree(leftover, ignore_errors=True)
    final = root / f"step_{step:012d}"
    temporary = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        files = {STATE_FILE: _write_file(temporary / STATE_FILE, lambda file: torch.save(dict(tensors), file))}
        (temporary / ARRAY_FOLDER).mkdir()
        for name, array in arrays.items():
            if not _ARRAY_NAME.match(name):
                raise ValueError(f"array name {name!r} is not a plain file name")
            relative = f"{ARRAY_FOLDER}/{name}.npy"
            files[relative] = _write_file(temporary / relative, _npy_writer(array))
        _fsync_folder(temporary / ARRAY_FOLDER)
        manifest = {
            "format_version": FORMAT_VERSION,
            "step": step,
            "config": dict(config),
            "meta": dict(meta),
            "files": files,
        }
        text = json.dumps(manifest, indent=1).encode()
        _write_file(temporary / MANIFEST, lambda file: file.write(text))
        _fsync_folder(temporary)
        if final.exists():  # the same step saved again: move the old one aside first
            stale = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}.", suffix=".old"))
            os.replace(final, stale / final.name)
            shutil.rmtree(stale)
        os.replace(temporary, final)
        _fsync_folder(root)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    for old in checkpoint_folders(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint(path: Path) -> Checkpoint:
    """One checkpoint, every file checked against the manifest; raises CheckpointError. Each file
    is read once: hashed as it is parsed (arrays straight into their final memory)."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise CheckpointError(f"{path}: checkpoint format {version!r}, this learner reads {FORMAT_VERSION}")
    files = manifest.get("files")
    if not isinstance(files, dict) or STATE_FILE not in files:
        raise CheckpointError(f"{path}: the manifest lists no {STATE_FILE}")
    tensors: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for relative, expected in files.items():
        if relative == STATE_FILE:  # checked before torch unpickles anything, even with weights_only
            data = _read_verified(path, relative, expected, lambda reader, _: reader.read())
            tensors = _load_tensors(path, data)
        elif relative.startswith(f"{ARRAY_FOLDER}/"):
            name = relative.removeprefix(f"{ARRAY_FOLDER}/").removesuffix(".npy")
            arrays[name] = _read_verified(path, relative, expected, _read_npy)
        else:
            _read_verified(path, relative, expected, lambda reader, _: None)
    return Checkpoint(path, int(manifest["step"]), manifest["config"], manifest.get("meta", {}), tensors, arrays)


class _HashingReader:
    """A read-only file wrapper that hashes what passes through it."""

    def __init__(self, file: io.BufferedReader) -> None:
        self.file = file
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.hash.update(data)
        self.size += len(data)
        return data

    def read_into(self, view: memoryview) -> None:
        """Fill `view` from the file; EOFError when it ends first."""
        filled = 0
        while filled < view.nbytes:
            count = self.file.readinto(view[filled:])
            if not count:
                raise EOFError(f"the file ends after {self.size + filled} bytes")
            self.hash.update(view[filled : filled + count])
            filled += count
        self.size += filled


def _read_verified(path: Path, relative: str, expected: Any, parse: Callable[[_HashingReader, int], T]) -> T:
    """`parse(reader, expected_bytes)` of one file, read through to its end and checked against
    its manifest entry; CheckpointError when it does not match or, matching, does not parse."""
    if not isinstance(expected, dict):
        raise CheckpointError(f"{path}: the manifest entry of {relative} is not a record")
    try:
        with (path / relative).open("rb") as file:
            reader = _HashingReader(file)
            failure: Exception | None = None
            try:
                value = parse(reader, int(expected.get("bytes", -1)))
            except OSError:
                raise
            except Exception as exc:  # judged after the checksum: damage shows as a mismatch
                failure = exc
            while reader.read(1 << 22):
                pass
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read {relative} ({exc})") from None
    if reader.hash.hexdigest() != expected.get("sha256") or reader.size != expected.get("bytes"):
        raise CheckpointError(f"{path}: {relative} does not match its checksum")
    if failure is not None:
        raise CheckpointError(f"{path}: unreadable contents of {relative} ({failure})")
    return value


def _read_npy(reader: _HashingReader, expected_bytes: int) -> np.ndarray:
    """An .npy array, read into its own memory (no pickled objects, no larger than the manifest says)."""
    version = np.lib.format.read_magic(reader)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(reader)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(reader)
    else:
        raise ValueError(f".npy format {version} is not one np.save writes for plain arrays")
    if dtype.hasobject:
        raise ValueError("an array of Python objects")
    nbytes = math.prod(shape) * dtype.itemsize
    if reader.size + nbytes != expected_bytes:
        raise ValueError(f"a {dtype}{shape} array does not fill {expected_bytes} bytes")
    array = np.empty(shape, dtype=dtype, order="F" if fortran_order else "C")
    reader.read_into((array.T if fortran_order else array).reshape(-1).view(np.uint8).data)
    return array


def _load_tensors(path: Path, data: bytes) -> dict[str, Any]:
    try:
        tensors = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # a file that matched its checksum but does not parse
        raise CheckpointError(f"{path}: unreadable contents of {STATE_FILE} ({exc})") from None
    if not isinstance(tensors, dict):
        raise CheckpointError(f"{path}: {STATE_FILE} holds no dict of tensors")
    return tensors


def latest_checkpoint(root: Path, check: Callable[[Checkpoint], None] | None = None) -> Checkpoint | None:
    """The newest readable checkpoint under `root` (None if there is none at all). Corrupt ones are
    skipped with a warning; `check` may refuse a readable one by raising IncompatibleCheckpoint."""
    folders = checkpoint_folders(root)
    for path in reversed(folders):
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointError as exc:
            message = f"{exc}; falling back to the checkpoint before it"
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            log.warning(message)
            continue
        if check is not None:
            check(checkpoint)
        return checkpoint
    if folders:
        raise CheckpointError(f"none of the {len(folders)} checkpoints under {root} is readable")
    return None
