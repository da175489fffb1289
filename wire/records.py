"""Recorded episodes: every field the actor logs of a step, and their on-disk form.

Demonstrations (`rlif record`), the actor's logs and the learner's prior data share this
format. An episode of T steps is one `.npz` file (numpy's zip of plain arrays, always
loaded with `allow_pickle=False`) holding:

| key                   | dtype   | shape          | meaning                                              |
|-----------------------|---------|----------------|------------------------------------------------------|
| `obs_state`           | float32 | (T+1, S)       | proprio state before each step, then the final one   |
| `obs_<camera>`        | uint8   | (T+1, H, W, 3) | camera images, same indexing                         |
| `policy_action`       | float32 | (T, 7)         | what the policy proposed (NaN rows: no policy ran)   |
| `action`              | float32 | (T, 7)         | what was executed (the operator's while intervening) |
| `expert_action`       | float32 | (T, 7)         | the expert's label of the state (NaN rows: none)     |
| `intervened`          | bool    | (T,)           | the operator's action was executed                   |
| `intervention_onset`  | bool    | (T,)           | first step of a takeover segment                     |
| `source`              | uint8   | (T,)           | index into SOURCES: who chose the executed action    |
| `terminated`          | bool    | (T,)           | the task ended (success or failure) after this step  |
| `truncated`           | bool    | (T,)           | the episode was cut (time limit) after this step     |
| `success`             | int8    | (T,)           | 1 success, 0 not (yet), -1 unknown (hardware)        |
| `stamp`               | float64 | (T,)           | monotonic seconds when the action was applied        |
| `wall_time`           | float64 | (T,)           | Unix seconds, for logs                               |
| `policy_version`      | int64   | (T,)           | weights version that chose the policy action, -1 none |
| `meta`                | uint8   | (n,)           | UTF-8 JSON: format_version, episode_id, actor_id, cameras, extra |

Observation t is the state before step t; observation t+1 the state after it, so every
frame is stored once and the next observation is found by index.

`expert_action` is DAgger's label: a simulated operator's expert action for the step, whether it
took over or not; NaN rows where nobody gave one (a person operating, no operator). Format 1
files, from before it, load with NaN labels.
"""

from __future__ import annotations

import json
import os
import tempfile
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any

import msgspec
import numpy as np

from wire.schema import Finite, Int64, one_of

FORMAT_VERSION = 2
"""2 added `expert_action`; format 1 files load with NaN labels."""
UNLABELLED_VERSION = 1
SOURCES = ("policy", "human", "keyboard", "scripted")
"""Who chose an executed action: index stored in `source`."""
Source = Annotated[str, msgspec.Meta(pattern=one_of(SOURCES))]


class RecordError(ValueError):
    """A recorded episode is malformed or of an unknown format version."""


@dataclass(frozen=True)
class Column:
    """How a step field is stored in an episode: one row per step of `dtype`, each the field's
    value (or `cell` of it)."""

    dtype: type[np.generic]
    cell: Callable[[Any], Any] | None = None


def _ternary(success: bool | None) -> int:
    return -1 if success is None else int(success)


def no_label(length: int = 7) -> np.ndarray:
    """An expert label that is not there: all NaN."""
    return np.full(length, np.nan, np.float32)


def labelled(label: np.ndarray) -> bool:
    """Whether an expert label is there (finite), not all NaN."""
    return bool(np.isfinite(label).all())


@dataclass
class StepRecord:
    """One step as the actor logs it: the observation it acted on, and what happened.

    The one schema of a step: the annotations are what a received step is checked against
    (msgspec validates this dataclass as it does a Struct; `wire.transitions`), the fields that
    are not STEP_ARRAYS are the step message's data in this order, and the `Column`s are the
    episode file's per-step arrays (`STEP_FIELDS`)."""

    state: np.ndarray
    images: Mapping[str, np.ndarray]
    policy_action: Annotated[np.ndarray, Column(np.float32)]
    action: Annotated[np.ndarray, Column(np.float32)]
    intervened: Annotated[bool, Column(np.bool_)]
    intervention_onset: Annotated[bool, Column(np.bool_)]
    source: Annotated[Source, Column(np.uint8, SOURCES.index)]
    terminated: Annotated[bool, Column(np.bool_)] = False
    truncated: Annotated[bool, Column(np.bool_)] = False
    success: Annotated[bool | None, Column(np.int8, _ternary)] = None
    stamp: Annotated[Finite, Column(np.float64)] = 0.0
    wall_time: Annotated[Finite, Column(np.float64)] = 0.0
    policy_version: Annotated[Int64, Column(np.int64)] = -1
    expert_action: Annotated[np.ndarray, Column(np.float32)] = field(default_factory=no_label)
    """The expert's label of this state (DAgger), all NaN where there is none; an all-NaN label
    takes the action's shape."""

    def __post_init__(self) -> None:
        if np.shape(self.expert_action) != np.shape(self.action) and np.isnan(self.expert_action).all():
            self.expert_action = no_label(np.size(self.action))


STEP_ARRAYS = ("state", "images", "policy_action", "action", "expert_action")
"""The fields of a step that are arrays (array frames in a step message)."""
STEP_SCALARS = tuple(f.name for f in fields(StepRecord) if f.name not in STEP_ARRAYS)
"""The plain fields of a step, in order."""
COLUMNS: dict[str, Column] = {
    name: meta
    for name, hint in typing.get_type_hints(StepRecord, include_extras=True).items()
    for meta in getattr(hint, "__metadata__", ())
    if isinstance(meta, Column)
}
"""The episode file's per-step arrays, by field."""
STEP_FIELDS: dict[str, type[np.generic]] = {name: column.dtype for name, column in COLUMNS.items()}


def save_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """An .npz written to a temporary file, synced and renamed: a crash leaves the old file or the
    new one, never part of one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)  # type: ignore[arg-type]  # numpy stubs: the keywords as allow_pickle
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


@dataclass
class EpisodeRecord:
    """A whole episode as arrays; see the module docstring for every field."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.arrays["action"].shape[0])

    @property
    def cameras(self) -> list[str]:
        return list(self.meta.get("cameras", []))

    @classmethod
    def from_steps(
        cls,
        steps: Sequence[StepRecord],
        final_state: np.ndarray,
        final_images: Mapping[str, np.ndarray],
        *,
        episode_id: str,
        actor_id: str,
        extra: Mapping[str, Any] | None = None,
    ) -> EpisodeRecord:
        if not steps:
            raise RecordError("an episode needs at least one step")
        cameras = sorted(final_images)
        arrays: dict[str, np.ndarray] = {
            "obs_state": np.stack([np.asarray(s.state, np.float32) for s in steps] + [np.asarray(final_state)]).astype(
                np.float32
            ),
        }
        for camera in cameras:
            arrays[f"obs_{camera}"] = np.stack([s.images[camera] for s in steps] + [final_images[camera]]).astype(
                np.uint8
            )
        for name, column in COLUMNS.items():
            values = [getattr(step, name) for step in steps]
            cells = values if column.cell is None else [column.cell(value) for value in values]
            arrays[name] = np.stack(cells).astype(column.dtype)
        meta = {
            "format_version": FORMAT_VERSION,
            "episode_id": episode_id,
            "actor_id": actor_id,
            "cameras": cameras,
            "extra": dict(extra or {}),
        }
        record = cls(arrays, meta)
        record.validate()
        return record

    def validate(self) -> None:
        """Shapes, dtypes and cross-field rules; raises RecordError with what is wrong."""
        if not isinstance(self.meta, dict):
            raise RecordError(f"episode 'meta' must be a JSON object, got {type(self.meta).__name__}")
        if self.meta.get("format_version") != FORMAT_VERSION:
            raise RecordError(f"episode format version {self.meta.get('format_version')!r}, expected {FORMAT_VERSION}")
        try:
            steps = len(self)
        except KeyError:
            raise RecordError("episode has no 'action' array") from None
        for name, dtype in STEP_FIELDS.items():
            array = self.arrays.get(name)
            if array is None or array.dtype != dtype or array.shape[0] != steps:
                raise RecordError(f"'{name}' must be {np.dtype(dtype).name} with {steps} rows")
        state = self.arrays.get("obs_state")
        if state is None or state.dtype != np.float32 or state.ndim != 2 or state.shape[0] != steps + 1:
            raise RecordError(f"'obs_state' must be float32 with {steps + 1} rows")
        for camera in self.cameras:
            image = self.arrays.get(f"obs_{camera}")
            if image is None or image.dtype != np.uint8 or image.ndim != 4 or image.shape[0] != steps + 1:
                raise RecordError(f"'obs_{camera}' must be uint8 (T+1, H, W, 3) with {steps + 1} rows")
        if self.arrays["source"].max(initial=0) >= len(SOURCES):
            raise RecordError("'source' holds an unknown index")
        ends = self.arrays["terminated"][:-1] | self.arrays["truncated"][:-1]
        if ends.any():
            raise RecordError("only the last step may be terminated or truncated")
        self._validate_labels()
        intervened = self.arrays["intervened"]
        expected_onset = intervened & ~np.concatenate([[False], intervened[:-1]])
        if not np.array_equal(self.arrays["intervention_onset"], expected_onset):
            raise RecordError("'intervention_onset' must mark exactly the first step of each takeover")

    def _validate_labels(self) -> None:
        labels, action = self.arrays["expert_action"], self.arrays["action"]
        if labels.shape != action.shape:
            raise RecordError(f"'expert_action' must have the shape of 'action' {action.shape}, got {labels.shape}")
        unlabelled = np.isnan(labels).all(axis=tuple(range(1, labels.ndim)))
        if not np.isfinite(labels[~unlabelled]).all():
            raise RecordError("each 'expert_action' row must be finite or all NaN (no label)")

    def save(self, path: Path | str) -> Path:
        """Write atomically (temporary file, fsync, rename): a crash leaves no partial episode."""
        self.validate()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = dict(self.arrays)
        payload["meta"] = np.frombuffer(json.dumps(self.meta).encode(), dtype=np.uint8)
        return save_npz_atomically(path, payload)

    @classmethod
    def load(cls, path: Path | str) -> EpisodeRecord:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as exc:
            raise RecordError(f"{path}: not a readable episode file ({exc})") from None
        raw_meta = arrays.pop("meta", None)
        if raw_meta is None:
            raise RecordError(f"{path}: no 'meta'")
        try:
            meta = json.loads(raw_meta.tobytes().decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"{path}: unreadable 'meta' ({exc})") from None
        record = cls(*_upgraded(arrays, meta))
        record.validate()
        return record


def _upgraded(arrays: dict[str, np.ndarray], meta: Any) -> tuple[dict[str, np.ndarray], Any]:
    """A format 1 episode as format 2: no expert labels (NaN rows)."""
    action = arrays.get("action")
    if not isinstance(meta, dict) or meta.get("format_version") != UNLABELLED_VERSION or action is None:
        return arrays, meta
    if "expert_action" not in arrays:
        arrays["expert_action"] = np.full(action.shape, np.nan, np.float32)
    return arrays, {**meta, "format_version": FORMAT_VERSION}


def onsets(intervened: Sequence[bool] | np.ndarray) -> np.ndarray:
    """The onset rule: step t is an intervention onset when the operator acts at t and did
    not at t-1 (or t is the episode's first step)."""
    flags = np.asarray(intervened, dtype=np.bool_)
    return flags & ~np.concatenate([[False], flags[:-1]])
