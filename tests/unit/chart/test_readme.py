"""Every documented value appears in the chart README's values table."""

from __future__ import annotations

import re

from tests.support.helm import CHART


def documented_keys() -> list[str]:
    """Dotted paths of the keys values.yaml documents with a `# --` comment."""
    keys: list[str] = []
    stack: list[str] = []
    pending = False
    for line in (CHART / "values.yaml").read_text().splitlines():
        if re.match(r"^\s*# -- ", line):
            pending = True
            continue
        if line.strip().startswith("#"):
            continue
        match = re.match(r"^(\s*)([A-Za-z]\w*):", line)
        if match:
            stack = [*stack[: len(match.group(1)) // 2], match.group(2)]
            if pending:
                keys.append(".".join(stack))
        pending = False
    return keys


def test_every_value_is_documented_and_in_the_readme() -> None:
    keys = documented_keys()
    assert len(keys) > 60
    readme = (CHART / "README.md").read_text()
    missing = [k for k in keys if f"| `{k}` |" not in readme]
    assert not missing, f"values missing from the README table: {missing}"
    # Leaves with no comment of their own must sit under a documented parent.
    text = (CHART / "values.yaml").read_text()
    assert text.count("# -- ") == len(keys)
