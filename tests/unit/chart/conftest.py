"""Fixtures for chart tests: each test runs once per helm major (3.x and 4.x)."""

from __future__ import annotations

import pytest

from tests.support.helm import HELM_MAJORS, Helm


@pytest.fixture(params=HELM_MAJORS, scope="session")
def helm(request: pytest.FixtureRequest) -> Helm:
    return Helm.named(str(request.param))
