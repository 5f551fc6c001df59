"""Reading the generated Grafana dashboard as its tests need it: targets and template variables.

Grafana interpolates ``$name`` and ``${name}`` (also ``${name:format}``) in queries; a query
variable's own query may use the variables defined before it. What Grafana would send to
Prometheus is a query with those replaced, which :func:`substitute` produces for the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


@dataclass(frozen=True)
class PanelTarget:
    panel: str
    ref_id: str
    expr: str

    @property
    def id(self) -> str:
        return f"{self.panel} [{self.ref_id}]"


def panel_targets(dashboard: Mapping[str, Any]) -> list[PanelTarget]:
    """Every query of every panel, in layout order (rows have none)."""
    return [
        PanelTarget(panel["title"], target["refId"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def variables_in(text: str) -> set[str]:
    return {braced or bare for braced, bare in VARIABLE.findall(text)}


def strings(node: Any) -> Iterator[str]:
    """Every string value in a JSON document, depth first."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with each variable replaced by its value; an unknown variable is a KeyError."""
    return VARIABLE.sub(lambda m: values[m[1] or m[2]], expr)
