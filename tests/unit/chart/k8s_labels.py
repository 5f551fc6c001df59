"""Kubernetes label syntax, as the API server checks it (apimachinery validation).

- key: an optional prefix (a DNS-1123 subdomain of at most 253 characters) and '/', then a
  name of at most 63 characters: alphanumerics at both ends, '-', '_', '.' inside.
- value: empty, or at most 63 characters of the same form as a name. No ':' anywhere, which
  is why the queue "enhancement:queue" cannot appear in a selector as it is.

kubernetes-validate checks types, not these rules, and a wrong label only fails at apply time
(or, in an HPA metric selector, makes the adapter silently match nothing), hence this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
SELECTOR_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


def label_key_errors(key: str) -> list[str]:
    errors = []
    prefix, _, name = key.rpartition("/")
    if "/" in key:
        if not prefix:
            errors.append(f"key {key!r}: empty prefix")
        elif len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix):
            errors.append(f"key {key!r}: prefix must be a DNS-1123 subdomain (<= 253)")
    if not name or len(name) > 63 or not _NAME.match(name):
        errors.append(f"key {key!r}: name must be 1-63 chars, alphanumeric at both ends")
    return errors


def label_value_errors(value: object) -> list[str]:
    if not isinstance(value, str):
        return [f"value {value!r}: must be a string, not {type(value).__name__}"]
    if value == "":
        return []
    if len(value) > 63 or not _NAME.match(value):
        return [f"value {value!r}: must be <= 63 chars of [A-Za-z0-9_.-], alphanumeric at ends"]
    return []


def label_map_errors(labels: Mapping[str, Any]) -> list[str]:
    errors = []
    for key, value in labels.items():
        errors += label_key_errors(str(key))
        errors += label_value_errors(value)
    return errors


def selector_errors(selector: Mapping[str, Any]) -> list[str]:
    """A metav1.LabelSelector: matchLabels and matchExpressions."""
    errors = label_map_errors(selector.get("matchLabels") or {})
    for expression in selector.get("matchExpressions") or []:
        errors += label_key_errors(str(expression.get("key", "")))
        operator = expression.get("operator")
        values = expression.get("values") or []
        if operator not in SELECTOR_OPERATORS:
            errors.append(f"operator {operator!r} is not one of {sorted(SELECTOR_OPERATORS)}")
        elif operator in {"In", "NotIn"} and not values:
            errors.append(f"operator {operator} needs values")
        elif operator in {"Exists", "DoesNotExist"} and values:
            errors.append(f"operator {operator} takes no values")
        for value in values:
            errors += label_value_errors(value)
    return errors


# Paths (as key tuples, "*" for any) whose value is a plain label map rather than a selector.
def _is_label_map(path: tuple[str | int, ...], kind: str = "") -> bool:
    if not path:
        return False
    last = path[-1]
    if last == "labels" and len(path) >= 2 and path[-2] == "metadata":
        return True
    if last == "nodeSelector":
        return True
    # Service.spec.selector is a plain map; every other "selector" is a LabelSelector.
    return kind == "Service" and path == ("spec", "selector")


def _is_selector(path: tuple[str | int, ...], node: Mapping[str, Any]) -> bool:
    if not path:
        return False
    last = path[-1]
    if last in {"selector", "podSelector", "namespaceSelector", "labelSelector"}:
        return "matchLabels" in node or "matchExpressions" in node or node == {}
    return False


def manifest_label_errors(manifest: Mapping[str, Any]) -> list[str]:
    """Every label map and label selector anywhere in one rendered object."""
    errors: list[str] = []
    kind = manifest.get("kind", "?")
    name = manifest.get("metadata", {}).get("name", "?")

    def visit(node: Any, path: tuple[str | int, ...]) -> Iterator[None]:
        if isinstance(node, Mapping):
            # Prometheus rule labels are Prometheus labels, not Kubernetes ones.
            if kind == "PrometheusRule" and path[:2] == ("spec", "groups"):
                return
            if kind == "ServiceMonitor" and path == ("spec", "namespaceSelector"):
                # matchNames/any, not a LabelSelector.
                for ns in node.get("matchNames", []):
                    if not _DNS1123_SUBDOMAIN.match(ns):
                        errors.append(f"{kind}/{name} {path}: namespace {ns!r}")
                return
            # A CRD's schema names fields like nodeSelector; it holds no labels of its own.
            if kind == "CustomResourceDefinition" and path[:1] == ("spec",):
                return
            if _is_label_map(path, kind):
                errors.extend(f"{kind}/{name} {path}: {e}" for e in label_map_errors(node))
            elif _is_selector(path, node):
                errors.extend(f"{kind}/{name} {path}: {e}" for e in selector_errors(node))
            for key, value in node.items():
                yield from visit(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from visit(value, (*path, index))

    for _ in visit(manifest, ()):
        pass
    return errors


def selectors_in(manifest: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], Any]]:
    """(path, selector) for every LabelSelector in the object (for tests that count them)."""
    found: list[tuple[tuple[str | int, ...], Any]] = []

    def visit(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, Mapping):
            if _is_selector(path, node):
                found.append((path, node))
            for key, value in node.items():
                visit(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                visit(value, (*path, index))

    visit(manifest, ())
    return found
