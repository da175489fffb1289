"""Settings as YAML files, both ways.

In: site-specific settings laid over the dataclass defaults before the command line
(`rlif actor --config site.yaml --actor-id arm2`), for every subcommand.
Out: a launcher writes each child's settings from the child's own dataclass (dataclass -> dict
-> YAML) and reads the file back at once, so that a setting the file cannot carry (a renamed
field, say) fails when the file is written, not when the child starts.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import tyro
import yaml

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


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
        elif current is None and isinstance(value, dict):
            changes[name] = _build(type(config), name, value, f"{where}{key}")
        elif isinstance(current, Path) or (current is None and "Path" in str(fields[name].type)):
            changes[name] = None if value is None else Path(value)
        elif isinstance(current, tuple):
            changes[name] = tuple(value)
        else:
            changes[name] = value
    return dataclasses.replace(config, **changes)


def _build(owner: type, name: str, values: dict[str, Any], where: str) -> Any:
    """A setting that is off (None) by default, given as a mapping: the settings group it may hold
    (e.g. `server_curve: {server_public_key: ..., client_secret_key: ...}`), built from the mapping."""
    hint = typing.get_type_hints(owner)[name]
    groups: list[type] = [c for c in typing.get_args(hint) if isinstance(c, type) and dataclasses.is_dataclass(c)]
    if len(groups) != 1:
        raise ConfigFileError(f"{where} takes no mapping")
    group = groups[0]
    hints = typing.get_type_hints(group)
    known = {field.name for field in dataclasses.fields(group)}
    settings = {str(key).replace("-", "_"): value for key, value in values.items()}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigFileError(f"unknown setting(s) {unknown} in {where}; known: {sorted(known)}")
    for field, value in settings.items():
        if value is not None and "Path" in str(hints[field]):
            settings[field] = Path(value)
    try:
        return group(**settings)
    except TypeError as exc:
        raise ConfigFileError(f"{where}: {exc}") from None


def _variant(owner: type, name: str, kind: Any, where: str) -> Any:
    """The defaults of the dataclass, among those `owner.name` may hold, whose `type` is `kind`
    (e.g. `arm: {type: franka, ...}` picks the franka arm's settings)."""
    hint = typing.get_type_hints(owner)[name]
    choices: list[Any] = [c for c in typing.get_args(hint) if dataclasses.is_dataclass(c)] or [hint]
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


def parse_with_config_file(config_type: Any, args: list[str], prog: str, description: str) -> Any:
    """Defaults, then `--config FILE.yaml`, then flags."""
    path, rest = split_config_flag(args)
    try:
        default = load_config(config_type(), path) if _has_defaults(config_type) else None
    except ConfigFileError as exc:
        raise SystemExit(f"{prog}: {exc}") from None
    if default is None and path is not None:
        raise SystemExit(f"{prog}: takes no --config file")
    # A setting that may hold one of several backends' settings (the server's `arm`) takes its
    # kind from the YAML file; the flags then set that kind's fields.
    return tyro.cli(
        config_type,
        default=default,
        args=rest,
        prog=prog,
        description=description,
        config=(tyro.conf.AvoidSubcommands,),
    )


def _has_defaults(config_type: Any) -> bool:
    missing = dataclasses.MISSING
    return all(f.default is not missing or f.default_factory is not missing for f in dataclasses.fields(config_type))


def to_plain(value: Any) -> Any:
    """Dataclasses as dicts, paths as strings, tuples as lists: what YAML holds."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    return value


def write_config(path: Path, config: Any) -> Path:
    """Writes the dataclass `config` as the YAML file `--config` reads; raises ConfigFileError,
    writing nothing, if the file would not read back as `config`."""
    text = yaml.safe_dump(to_plain(config), sort_keys=False)
    read_back = apply_overrides(type(config)(), yaml.safe_load(text) or {})
    if read_back != config:
        wrong = "; ".join(_differences(read_back, config))
        raise ConfigFileError(f"{path}: {type(config).__name__} does not read back from YAML: {wrong}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _differences(got: Any, wanted: Any, where: str = "") -> list[str]:
    """The settings (dotted names) where two settings dataclasses differ, with both values."""
    if dataclasses.is_dataclass(got) and type(got) is type(wanted):
        return [
            line
            for f in dataclasses.fields(got)
            for line in _differences(getattr(got, f.name), getattr(wanted, f.name), f"{where}{f.name}.")
        ]
    return [] if got == wanted else [f"{where.rstrip('.')}: {got!r} instead of {wanted!r}"]
