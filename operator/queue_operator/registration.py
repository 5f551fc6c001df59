"""The operator's lifecycle (settings, login, sweeper start, cleanup) and :func:`register`,
which binds every handler to one :class:`~queue_operator.context.OperatorContext`.

Handlers are registered into a given registry, not at import time, so the CLI and the tests
each run the operator with their own :class:`~queue_operator.config.OperatorConfig`. What each
handler does is in its own module: :mod:`queue_operator.on_change` for spec changes,
:mod:`queue_operator.periodic` for drift repair and status refresh.

No handler makes Kopf put a finalizer on a RedisQueue: create/update/resume handlers and
indexes need none, and the periodic work runs in a :class:`~queue_operator.sweeper.Sweeper`
instead of Kopf timers, which would require one. Deleting a RedisQueue therefore never waits
for the operator, which may already be gone (``helm uninstall`` deletes it at the same time).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import kopf

from queue_operator.config import OperatorConfig
from queue_operator.context import OperatorContext
from queue_operator.naming import GROUP, PLURAL, VERSION
from queue_operator.on_change import on_change
from queue_operator.periodic import INDEX, index_queue, start_sweeper

RESOURCE = (GROUP, VERSION, PLURAL)


async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Kopf's bookkeeping goes to annotations: the CRD's status schema stays strict and
    # holds only what users read.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Namespaces are given by name (-n) or all (-A): no need to list namespaces or CRDs,
    # which keeps the RBAC to what the operator manages.
    settings.scanning.disabled = True
    # Only warnings become Kubernetes Events; routine progress stays in the log.
    settings.posting.level = logging.WARNING


async def login(ctx: OperatorContext, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """Kopf's credentials, shared with the client the children are written with."""
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if info is not None:
        await ctx.api.connect(info)
    return info


async def close(ctx: OperatorContext, **_: Any) -> None:
    for sweeper in ctx.sweepers:
        await sweeper.stop()
    ctx.sweepers.clear()
    await ctx.api.close()


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    """Register every handler of the operator into ``registry``, sharing one context."""
    ctx = OperatorContext(config)
    kopf.on.startup(registry=registry)(configure)
    kopf.on.login(registry=registry)(partial(login, ctx))
    kopf.index(*RESOURCE, id=INDEX, registry=registry)(index_queue)
    changed = partial(on_change, ctx)
    kopf.on.create(*RESOURCE, id="ensure-on-create", registry=registry)(changed)
    kopf.on.resume(*RESOURCE, id="ensure-on-resume", registry=registry)(changed)
    kopf.on.update(*RESOURCE, id="ensure-on-update", field="spec", registry=registry)(changed)
    kopf.on.startup(registry=registry)(partial(start_sweeper, ctx))
    kopf.on.cleanup(registry=registry)(partial(close, ctx))
