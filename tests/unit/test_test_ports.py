"""The test servers' ports: each xdist worker has its own, none of them ephemeral.

A port from a bind of port 0 was once taken, between the check and the exporter's bind, by
KMock's server in another worker: the exporter test then read a Kubernetes 404 as metrics.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support import processes
from tests.support.processes import LOOPBACK, PORT_BLOCKS, TEST_PORTS, free_port, port_block


@pytest.fixture
def fresh_block() -> Iterator[None]:
    """The worker's block is found once per process: found again here, and after the test."""
    processes._worker_block.cache_clear()
    yield
    processes._worker_block.cache_clear()


def test_every_worker_has_a_block_of_its_own_inside_the_test_ports() -> None:
    blocks = [set(port_block(f"gw{index}")) for index in range(PORT_BLOCKS)]
    assert all(len(block) == len(TEST_PORTS) // PORT_BLOCKS for block in blocks)
    assert set().union(*blocks) <= set(TEST_PORTS)
    assert sum(map(len, blocks)) == len(set().union(*blocks))


def test_without_xdist_the_first_block_is_used_and_more_workers_wrap_around() -> None:
    assert port_block("master") == port_block("gw0")
    assert port_block(f"gw{PORT_BLOCKS + 2}") == port_block("gw2")


def test_the_test_ports_are_outside_this_machines_ephemeral_range() -> None:
    """What the kernel gives a bind of port 0 comes from ip_local_port_range."""
    ephemeral = processes._ephemeral_ports()
    assert TEST_PORTS.stop <= ephemeral.start or TEST_PORTS.start >= ephemeral.stop
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        assert sock.getsockname()[1] not in TEST_PORTS


@pytest.mark.usefixtures("fresh_block")
def test_free_port_comes_from_this_workers_block_and_skips_a_taken_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw5")
    block = port_block("gw5")
    with socket.socket() as taken:
        taken.bind((LOOPBACK, block.start))
        taken.listen()
        first, second = free_port(), free_port()
    assert {first, second} <= set(block)
    assert block.start not in (first, second)
    assert first != second


@pytest.mark.usefixtures("fresh_block")
def test_a_block_inside_the_ephemeral_range_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes, "_ephemeral_ports", lambda: range(10000, 65536))
    with pytest.raises(RuntimeError, match="ip_local_port_range"):
        free_port()
