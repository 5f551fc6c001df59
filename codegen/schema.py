"""Pydantic JSON schema into the two dialects the project ships: Kubernetes and Helm.

Pydantic writes JSON schema with ``$ref``/``$defs``, ``anyOf: [X, null]`` for optional fields,
titles, and ``additionalProperties: false`` for closed models. A CRD needs a *structural* schema
instead (every node typed, no references, no junctors but int-or-string, unknown fields pruned
rather than forbidden, defaults where the API server should apply them); Helm's
values.schema.json is plain JSON schema (draft 7) where closed objects must say so, or a typo in
a value would pass silently. Both come from the same walk; these functions are pure.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

Schema = dict[str, Any]
Dialect = Literal["kubernetes", "helm"]

# Keys pydantic writes that neither dialect wants.
_DROPPED = {"title", "$defs"}


def inline(schema: Schema) -> Schema:
    """The schema with every ``$ref`` replaced by its definition (siblings such as a
    field's description win over the definition's)."""
    defs: dict[str, Schema] = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return walk(merged)
        return {k: walk(v) for k, v in node.items() if k not in _DROPPED}

    result: Schema = walk(schema)
    return result


def _without_null(node: Schema) -> Schema:
    """``anyOf: [X, {type: null}]`` (an optional field) is X: absent is how YAML says None."""
    options = node.get("anyOf")
    if not options:
        return node
    kept = [o for o in options if o != {"type": "null"}]
    if len(kept) == len(options):
        return node
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {**rest, "anyOf": kept}


def convert(node: Schema, dialect: Dialect) -> Schema:
    """One inlined pydantic schema node (and everything below it) in ``dialect``."""
    node = _without_null(node)
    out: Schema = {}
    int_or_string = bool(node.get("x-kubernetes-int-or-string"))
    for key, value in node.items():
        if key == "default":
            continue  # pydantic's; the API server's defaults come from with_defaults
        if key == "properties":
            out[key] = {name: convert(child, dialect) for name, child in value.items()}
        elif key == "items":
            out[key] = convert(value, dialect)
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out[key] = convert(value, dialect)
            elif value is True:
                if dialect == "kubernetes":
                    out["x-kubernetes-preserve-unknown-fields"] = True
            elif dialect == "helm":  # False: a closed model
                out[key] = False
        elif key == "allOf":
            if dialect == "helm":
                out[key] = copy.deepcopy(value)
        elif key.startswith("x-kubernetes-"):
            if dialect == "kubernetes":
                out[key] = copy.deepcopy(value)
            elif key == "x-kubernetes-list-type" and value == "set":
                out["uniqueItems"] = True
        elif key == "anyOf" and int_or_string:
            if dialect == "kubernetes":
                out[key] = [{"type": "integer"}, {"type": "string"}]
            else:
                out["type"] = ["integer", "string"]
        else:
            out[key] = copy.deepcopy(value)
    if out.get("type") == "integer" and dialect == "kubernetes":
        out.setdefault("format", "int64")
    if dialect == "kubernetes" and out.get("type") == "object" and "properties" in out:
        out.pop("additionalProperties", None)  # a CRD prunes unknown fields instead
    return out


def with_defaults(node: Schema, default: Any) -> Schema:
    """Defaults the API server should apply: every leaf's, and ``{}`` on each object that has
    properties, so defaulting reaches the leaves below it. Inside arrays and maps nothing is
    defaulted: the operator sends list items exactly as written, and a defaulted field the
    API server later omits would read as drift."""
    out = dict(node)
    if out.get("type") == "object" and "properties" in out and isinstance(default, dict):
        out["default"] = {}
        out["properties"] = {
            name: with_defaults(child, default[name]) if name in default else child
            for name, child in out["properties"].items()
        }
    elif default is not None:
        out["default"] = copy.deepcopy(default)
    return out
