"""Typed, closed run configs: a frozen dataclass of hyperparameters, filled from a YAML file, per-task overrides and
``key=value`` overrides, in that order. Unknown keys, wrong types and out-of-range values fail with a message naming
the key, the bad value and what is allowed."""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml


class ConfigError(ValueError):
    pass


def _f(default, help: str):
    """A config field with its help text (``--help`` lists every key with it)."""
    return dataclasses.field(default=default, metadata={"help": help})


def absolute_eval_field():
    """The absolute metric (Colas et al. 2018; Gorsane et al. 2022), the same key for every learner."""
    return _f(10, "the absolute metric: the final policy re-evaluated greedily on this many times eval_episodes "
                  "fresh episodes at the end of the run (absolute.json next to metrics.csv); 0: none")


def _type_name(tp) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string", type(None): "null"}.get(tp, str(tp))


def _coerce(key: str, value: Any, tp) -> Any:
    origin = get_origin(tp)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{key}: {value!r} is not allowed; expected {_type_name(tp)}")
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _coerce(key, value, arg)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # 2e6 written as a float is an integer step count
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            hint = " (YAML 1.1 reads '1e-4' as a string: write 1.0e-4)" if _is_float(value) else ""
            raise ConfigError(f"{key}: expected a number, got the string {value!r}{hint}")
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - config dataclasses only use the types above
        raise TypeError(f"unsupported config field type {tp} for {key}")
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def parse_override(item: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value is read as YAML, with 1e-4-style numbers read as numbers."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key=value")
    key, text = item.split("=", 1)
    value = float(text) if _is_float(text) and not text.strip().lstrip("+-").isdigit() else yaml.safe_load(text)
    return key.strip(), value


def build_config(cls, values: dict[str, Any]):
    """Instantiate ``cls`` from a flat mapping, rejecting unknown keys and checking every type; then ``validate()``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown} for {cls.__name__}; allowed keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    cfg = cls(**kwargs)
    if hasattr(cfg, "validate"):
        cfg.validate()
    return cfg


def resolve(cls, file_values: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None):
    """Merge: dataclass defaults <- file (top-level keys) <- file's ``task_overrides`` of the task's backend
    (``smax/*``) <- those of the task <- overrides."""
    values = dict(file_values or {})
    per_task = values.pop("task_overrides", {}) or {}
    if not isinstance(per_task, dict):
        raise ConfigError(f"task_overrides must be a mapping task -> {{key: value}}, got {per_task!r}")
    overrides = dict(overrides or {})
    task = overrides.get("task", values.get("task", cls.__dataclass_fields__["task"].default))
    return build_config(cls, {**values, **task_override_values(per_task, task), **overrides})


def task_override_values(per_task: dict[str, Any], task: str) -> dict[str, Any]:
    """The values ``task_overrides`` give ``task``: its backend's (``smax/*``), then its own over them."""
    values: dict[str, Any] = {}
    for key in (f"{str(task).split('/')[0]}/*", task):
        found = per_task.get(key, {}) or {}
        if not isinstance(found, dict):
            raise ConfigError(f"task_overrides[{key!r}] must be a mapping, got {found!r}")
        values.update(found)
    return values


def merge_sections(document: dict[str, Any], names: list[str], source: str = "config") -> dict[str, Any]:
    """The blocks ``names`` of a config document merged key by key in order, their task_overrides too (a later block
    wins): e.g. MAPPO reads ``ippo`` then ``mappo``, DM² ``ippo`` then ``dm2``."""
    values: dict[str, Any] = {}
    overrides: dict[str, dict] = {}
    for name in names:
        block = document.get(name)
        if name not in document or not isinstance(block, (dict, type(None))):
            raise ConfigError(f"{source} has no section {name!r}; sections: {sorted(document)}")
        block = block or {}
        values.update({k: v for k, v in block.items() if k != "task_overrides"})
        for task, kv in (block.get("task_overrides") or {}).items():
            overrides.setdefault(task, {}).update(kv or {})
    return {**values, "task_overrides": overrides}


def load_config(cls, path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None,
                section: str | None = None):
    """Resolve ``cls`` from a YAML file (or a ``section`` of it, e.g. ``ippo`` in config/config.yaml; comma-separated
    sections are merged in order, e.g. ``ippo,mappo``) plus overrides (``key=value`` strings or a mapping)."""
    file_values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys to values, got {type(loaded).__name__}")
        file_values = loaded or {}
        if section is not None:
            file_values = merge_sections(file_values, section.split(","), f"config file {path}")
    if isinstance(overrides, list):
        overrides = dict(parse_override(o) for o in overrides)
    return resolve(cls, file_values, overrides)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def checked_task_spec(task: str):
    """The spec of the config's ``task``; an unknown task (or a backend that is not installed) is a ConfigError that
    names it and the known tasks."""
    import envs  # torch-free, like the configs

    try:
        return envs.task_spec(task)
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"task: {exc}") from None


def config_help(cls) -> str:
    lines = []
    for f in dataclasses.fields(cls):
        lines.append(f"  {f.name} = {f.default!r}: {f.metadata.get('help', '')}")
    return "\n".join(lines)
