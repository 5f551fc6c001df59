"""How generated files are written: stable key order, one YAML style, a header naming the source.

The files are committed and reviewed, so the text must not change unless the shape does: keys
in a fixed reading order (type and description first, children last), no line wrapping
decisions left to defaults.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

# Reading order of a schema node's keys; keys not listed follow, in their given order.
SCHEMA_ORDER = (
    "type",
    "description",
    "format",
    "enum",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "anyOf",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
    "default",
    "required",
    "additionalProperties",
    "properties",
    "items",
)


def ordered_schema(node: Any) -> Any:
    """``node`` (a JSON schema) with every schema node's keys in :data:`SCHEMA_ORDER`."""
    if not isinstance(node, dict):
        return node
    rank = {key: i for i, key in enumerate(SCHEMA_ORDER)}
    out: dict[str, Any] = {}
    for key in sorted(node, key=lambda k: rank.get(k, len(rank))):
        value = node[key]
        if key == "properties":
            out[key] = {name: ordered_schema(child) for name, child in value.items()}
        elif key in {"items", "additionalProperties", "not", "if", "then", "else"}:
            out[key] = ordered_schema(value)
        elif key in {"allOf", "anyOf", "oneOf"}:
            out[key] = [ordered_schema(item) for item in value]
        else:
            out[key] = value
    return out


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key (as kubectl and Helm users write YAML)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def yaml_text(documents: list[Any], header: str = "") -> str:
    body = "---\n".join(
        yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
        for doc in documents
    )
    return header + body


def json_text(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
