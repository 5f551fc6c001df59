"""``queue-operator``: run the Kopf operator with this package's handlers.

It is ``kopf run`` with the choices this operator needs made for it: handlers come from
:func:`queue_operator.registration.register` (no module path to get wrong), the operator runs
standalone (one replica with ``strategy: Recreate``, so no peering CRD is needed), and the
namespace scope must be explicit: ``-n NAME`` (repeatable) or ``-A``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import kopf

from queue_operator.config import OperatorConfig
from queue_operator.registration import register


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="queue-operator", description="Run the RedisQueue operator (Kopf)."
    )
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NAME",
        help="serve RedisQueues in this namespace (repeatable; exact names)",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="serve RedisQueues cluster-wide"
    )
    parser.add_argument(
        "--liveness",
        metavar="URL",
        help="serve Kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument("--verbose", action="store_true", help="log handler activity")
    parser.add_argument("--debug", action="store_true", help="log API traffic too")
    parser.add_argument(
        "--log-format",
        choices=[fmt.name.lower() for fmt in kopf.LogFormat],
        default="plain",
        help="log line format",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    kopf.configure(
        verbose=args.verbose, debug=args.debug, log_format=kopf.LogFormat[args.log_format.upper()]
    )
    registry = kopf.OperatorRegistry()
    register(registry, OperatorConfig())
    kopf.run(
        registry=registry,
        standalone=True,
        clusterwide=args.all_namespaces,
        namespaces=args.namespaces or (),
        liveness_endpoint=args.liveness,
    )
