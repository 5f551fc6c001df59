"""The kind end-to-end tests (see conftest.py)."""

import pytest

# stack.py holds assertions the modules share: let pytest explain them as it does in a test.
pytest.register_assert_rewrite("tests.e2e.stack")
