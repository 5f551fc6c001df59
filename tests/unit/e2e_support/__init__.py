"""Unit tests of the e2e helpers in tests/support/kube.py (no cluster needed)."""
