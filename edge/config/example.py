"""The example configuration: every section and key with its default and meaning, from the schema itself."""

from __future__ import annotations

from enum import Enum
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel


def example_yaml(model: type[BaseModel], indent: int = 0) -> str:
    """Every section and key with its default, each preceded by its description."""
    lines = []
    pad = "  " * indent
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            doc = (annotation.__doc__ or "").strip().splitlines()
            lines.append(f"{pad}# {doc[0]}" if doc else f"{pad}# {name}")
            lines.append(f"{pad}{name}:")
            lines.append(example_yaml(annotation, indent + 1))
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, Enum):
            default = default.value
        lines.append(f"{pad}# {field.description}")
        rendered = yaml.safe_dump({name: default}, default_flow_style=True, width=200).strip()
        lines.append(f"{pad}{rendered[1:-1]}")
    return "\n".join(lines)


EXAMPLE_HEADER = """\
# gatepost example configuration: every section and key, with its default.
# Check a file with `gatepost config check PATH`. Unknown keys are errors.
# This file runs the gate on simulated hardware; state is kept in ./state.
# Regenerate it with `gatepost config example > config/gatepost.example.yaml`.
"""


def example_file(model: type[BaseModel]) -> str:
    """config/gatepost.example.yaml: the schema's defaults, except state kept in ./state."""
    body = example_yaml(model).replace("\nstate_dir: /var/lib/gatepost\n", "\nstate_dir: state\n")
    return EXAMPLE_HEADER + body + "\n"


def reference_markdown(model: type[BaseModel]) -> str:
    """docs/configuration-reference.md: each section as a table of its keys, defaults and meanings."""
    out = ["# Configuration reference", "",
           "Generated from the schema by `gatepost config reference`; a test keeps it in step. Every key is",
           "optional: the default applies where a file says nothing. [Configuration](configuration.md) says how",
           "files, overrides and checks work.", ""]
    _sections(model, "", out)
    return "\n".join(out).rstrip() + "\n"


def _sections(model: type[BaseModel], prefix: str, out: list[str]) -> None:
    rows, children = [], []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            children.append((f"{prefix}{name}", annotation))
            continue
        item = _item_model(annotation)
        if item is not None:  # a list or a mapping of sections: each entry's keys get a section of their own
            children.append((f"{prefix}{name}[]" if get_origin(annotation) is list else f"{prefix}{name}.<name>",
                             item))
        shown = "(required)" if field.is_required() else _shown(field.get_default(call_default_factory=True))
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | `{shown.replace('|', '/')}` | {meaning} |")
    if rows:
        title = prefix.rstrip(".") or "top level"
        doc = (model.__doc__ or "").strip().splitlines()
        out += [f"## `{title}`" if prefix else "## Top level", ""]
        out += [doc[0], ""] if doc and prefix else []
        out += ["| key | default | meaning |", "|---|---|---|", *rows, ""]
    for name, child in children:
        _sections(child, f"{name}.", out)


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """The section a list or a mapping holds, if it holds sections."""
    if get_origin(annotation) not in (list, dict):
        return None
    last = get_args(annotation)[-1] if get_args(annotation) else None
    return last if isinstance(last, type) and issubclass(last, BaseModel) else None


def _shown(default: Any) -> str:
    if isinstance(default, Enum):
        default = default.value
    return yaml.safe_dump(default, default_flow_style=True, width=200).strip().removesuffix("...").strip()
