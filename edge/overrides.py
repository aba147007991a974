"""Machine-written configuration: changes made at run time, layered over the operator's YAML.

The operator's file (often under a read-only /etc) is never rewritten. Remote `config.set`
and `gatepost thermal calibrate --write` record each change as a dotted path and a value in
`<state_dir>/overrides.yaml`, written atomically. Every start and every change validates the
operator's file with all overrides applied, exactly as `gatepost config check` does, so a
change that would stop the next start is refused before it is written.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml

from edge.config import GateConfig, parse_config, read_yaml
from edge.errors import ConfigError

log = logging.getLogger(__name__)

OVERRIDES_NAME = "overrides.yaml"
# Never overridden at run time: where the overrides live, and who may administer the gate (an administrator
# added by `config.set` hid the operator's own list, so the operator's file could no longer revoke anyone).
FIXED = ("state_dir", "mqtt.admin_keys")


def fixed(path: str) -> str | None:
    """The fixed key that `path` is, lies in, or contains; None when it may be overridden."""
    for key in FIXED:
        if path == key or path.startswith(key + ".") or key.startswith(path + "."):
            return key
    return None


def overrides_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / OVERRIDES_NAME


def read_overrides(state_dir: str | Path) -> dict[str, Any]:
    path = overrides_path(state_dir)
    if not path.exists():
        return {}
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ConfigError(f"{path}: expected a mapping of dotted keys to values")
    return data


def layered(operator: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The operator's configuration with each override put at its dotted path."""
    data = _copy(operator)
    for path, value in overrides.items():
        parts = path.split(".")
        if fixed(path):
            log.warning("overrides: %s ignored: only the operator's file sets %s", path, fixed(path))
            continue
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{path}: {part} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def load(operator_path: str | Path | None) -> GateConfig:
    """The configuration a start uses: the operator's file, then the overrides in its state directory."""
    operator = (read_yaml(operator_path) or {}) if operator_path else {}
    return with_overrides(operator, source=str(operator_path) if operator_path else "defaults")


def with_overrides(operator: dict[str, Any], *, source: str, state_dir: str | Path | None = None) -> GateConfig:
    """`operator` validated, with the overrides of `state_dir` (default: the one it names) put over it."""
    base = parse_config(operator, source=source)
    state_dir = state_dir or base.state_dir
    overrides = read_overrides(state_dir)
    if not overrides:
        return base
    return parse_config(layered(operator, overrides), source=f"{source} + {overrides_path(state_dir)}")


def set_value(operator: dict[str, Any], current: GateConfig, path: str, value: Any, *,
              state_dir: str | Path | None = None) -> GateConfig:
    """Validate the change as a start would, then record it; the new configuration, or ConfigError naming the key."""
    if fixed(path):
        raise ConfigError(f"{path}: only the operator's file sets {fixed(path)} (so that it can always revoke)")
    known = current.model_dump(mode="json")  # pragma: no mutate (only its keys are read: any mode has them)
    node = known
    parts = path.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"{path}: no such section {part!r}")
        node = node[part]
    if parts[-1] not in node:
        raise ConfigError(f"{path}: unknown key")
    state_dir = state_dir or current.state_dir
    overrides = {**read_overrides(state_dir), path: value}
    new = parse_config(layered(operator, overrides), source="config.set")
    text = yaml.safe_dump(overrides, sort_keys=True, allow_unicode=True)  # pragma: no mutate (sorting is the default)
    write_atomically(overrides_path(state_dir), text)
    return new


def write_atomically(path: Path, text: str) -> None:
    """Write-then-rename with fsync: after a power cut the file is the old one or the new one, whole."""
    temporary = path.with_name(path.name + ".tmp")  # pragma: no mutate (any name beside it, renamed over it)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as handle:  # pragma: no mutate (Python here runs in UTF-8 mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as error:
        raise ConfigError(f"{path}: cannot write ({error.strerror})") from None


def value_at(config: GateConfig, path: str) -> Any:
    node: Any = config.model_dump(mode="json")
    for part in path.split("."):
        node = node[part]
    return node


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return {key: _copy(value) if isinstance(value, dict) else value for key, value in data.items()}
