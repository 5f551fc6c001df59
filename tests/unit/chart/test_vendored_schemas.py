"""The CRD schemas the chart is validated against are ones a real API server takes.

jsonschema validates against any schema, structural or not; the API server refuses a CRD whose
schema is not structural. A vendored copy that no cluster would accept (a hand-trimmed
int-or-string without its marker, say) tests the chart against something that exists nowhere,
so each copy, and our own CRD, is checked against the structural rules here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.support.helm import walk
from tests.unit.chart.schemas import (
    CRD_DIR,
    SCHEMAS,
    VENDORED,
    python_pattern,
    structural_errors,
)

FILES = sorted(VENDORED.values())


@pytest.mark.parametrize("filename", FILES)
def test_vendored_schema_is_structural(filename: str) -> None:
    errors = structural_errors(yaml.safe_load((SCHEMAS / filename).read_text()))
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("path", sorted(CRD_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_our_crd_schema_is_structural(path: Any) -> None:
    for crd in yaml.safe_load_all(path.read_text()):
        for version in crd["spec"]["versions"]:
            errors = structural_errors(version["schema"]["openAPIV3Schema"])
            assert not errors, "\n".join([version["name"], *errors])


@pytest.mark.parametrize("filename", FILES)
def test_every_vendored_pattern_compiles_in_python(filename: str) -> None:
    """Upstream patterns are Go RE2; one Python's re refuses would break validation only when
    a rendered object first sets that field, so all are compiled here."""
    schema = yaml.safe_load((SCHEMAS / filename).read_text())
    patterns = [v for p, v in walk(schema) if p and p[-1] == "pattern" and isinstance(v, str)]
    for pattern in patterns:
        re.compile(python_pattern(pattern))


def test_python_pattern_keeps_go_meaning() -> None:
    """Go allows a flag group after ``^``; Python only at the start. Same language either way."""
    converted = re.compile(python_pattern("^(?i)(abort|warn)?$"))
    assert [bool(converted.search(s)) for s in ("Abort", "WARN", "", "aborts")] == [
        True,
        True,
        True,
        False,
    ]
    assert python_pattern("^[a-z]+$") == "^[a-z]+$"


def _object(**fields: Any) -> dict[str, Any]:
    return {"type": "object", "properties": fields}


# (id, schema, words of the expected error) — what the old hand-trimmed copies and typical
# hand edits got wrong; the API server refuses each.
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    (
        "int-or-string-without-marker",
        _object(targetPort={"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        "<root>.targetPort: no type (int-or-string needs x-kubernetes-int-or-string: true)",
    ),
    ("field-without-type", _object(spec={"properties": {}}), "<root>.spec: no type"),
    (
        "item-without-type",
        _object(rules={"type": "array", "items": {"properties": {}}}),
        "<root>.rules[]: no type",
    ),
    ("array-without-items", _object(rules={"type": "array"}), "an array needs one items"),
    ("ref", _object(spec={"$ref": "#/definitions/x"}), "$ref is not allowed"),
    (
        "type-in-junctor",
        _object(spec={"type": "object", "anyOf": [{"type": "object"}]}),
        "<root>.spec.anyOf[0]: type must not be set inside a junctor",
    ),
    (
        "junctor-field-not-outside",
        _object(spec={"type": "object", "oneOf": [{"properties": {"a": {}}}]}),
        "<root>.spec.oneOf[0].a: not specified outside the junctor",
    ),
    (
        "int-or-string-with-type",
        _object(port={"type": "string", "x-kubernetes-int-or-string": True}),
        "x-kubernetes-int-or-string excludes type",
    ),
    (
        "properties-and-additional",
        _object(m={"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}),
        "properties and additionalProperties exclude each other",
    ),
    (
        "metadata-restricted",
        _object(metadata={"type": "object", "properties": {"labels": {"type": "object"}}}),
        "only name and generateName",
    ),
    ("root-not-object", {"type": "string"}, "<root>: type must be object"),
]


@pytest.mark.parametrize(("schema", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_structural_check_refuses(schema: dict[str, Any], words: str) -> None:
    errors = structural_errors(schema)
    assert any(words in e for e in errors), errors


def test_structural_check_accepts_the_allowed_shapes() -> None:
    schema = _object(
        targetPort={
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
        },
        labels={"type": "object", "additionalProperties": {"type": "string"}},
        raw={"x-kubernetes-preserve-unknown-fields": True},
        spec={
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"properties": {"b": {"minLength": 1}}}],
        },
    )
    assert structural_errors(schema) == []
