"""Site-specific settings from YAML files, laid over the dataclass defaults before the
command line: `rlif actor --config site.yaml --actor-id arm2`."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigFileError(ValueError):
    """A YAML file names a setting that does not exist or gives it the wrong kind of value."""


def apply_overrides(config: T, overrides: dict[str, Any], where: str = "") -> T:
    """A copy of the dataclass `config` with `overrides` (nested dicts for nested dataclasses)."""
    if not dataclasses.is_dataclass(config):
        raise ConfigFileError(f"{where or 'config'} is not a settings group")
    fields = {field.name: field for field in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise ConfigFileError(f"unknown setting {where}{key!r}; known: {sorted(fields)}")
        current = getattr(config, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigFileError(f"{where}{key} holds settings; give a mapping")
            kind = value.get("type", getattr(current, "type", None))
            if kind != getattr(current, "type", None):
                current = _variant(type(config), name, kind, f"{where}{key}")
            changes[name] = apply_overrides(current, value, f"{where}{key}.")
        elif isinstance(current, Path) or (current is None and "Path" in str(fields[name].type)):
            changes[name] = None if value is None else Path(value)
        elif isinstance(current, tuple):
            changes[name] = tuple(value)
        else:
            changes[name] = value
    return dataclasses.replace(config, **changes)  # type: ignore[type-var]


def _variant(owner: type, name: str, kind: Any, where: str) -> Any:
    """The defaults of the dataclass, among those `owner.name` may hold, whose `type` is `kind`
    (e.g. `arm: {type: franka, ...}` picks the franka arm's settings)."""
    hint = typing.get_type_hints(owner)[name]
    choices = [c for c in typing.get_args(hint) if dataclasses.is_dataclass(c)] or [hint]
    for choice in choices:
        default = choice()
        if getattr(default, "type", None) == kind:
            return default
    known = sorted(str(getattr(c(), "type", "?")) for c in choices)
    raise ConfigFileError(f"{where}: unknown type {kind!r}; known: {known}")


def load_config(default: T, path: Path | None) -> T:
    if path is None:
        return default
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{path} must hold a mapping of settings")
    return apply_overrides(default, raw)


def split_config_flag(args: list[str]) -> tuple[Path | None, list[str]]:
    """(the --config path if given, the remaining arguments)."""
    rest, path = [], None
    iterator = iter(args)
    for arg in iterator:
        if arg == "--config":
            path = Path(next(iterator, ""))
        elif arg.startswith("--config="):
            path = Path(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return path, rest
