"""``/metrics``: Prometheus text format. Per-process counters and histograms (summed over every
process sharing ``PROMETHEUS_MULTIPROC_DIR``) and gauges of shared state read from the database.
With ``ACESERVE_METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>``."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from aceserve.api.deps import ServicesDep
from aceserve.api.envelope import error_response
from aceserve.store.stats import shared_state
from aceserve.telemetry import metrics

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics_route(request: Request, services: ServicesDep) -> Response:
    token = services.settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return error_response(
                401,
                "Metrics need `Authorization: Bearer <token>` with the token set in ACESERVE_METRICS_TOKEN.",
                headers={"WWW-Authenticate": "Bearer"},
            )
    settings = services.settings

    def read() -> metrics.SharedState:
        return shared_state(
            services.db, gone_after=settings.worker_gone_after, forget_after=settings.worker_forget_seconds
        )

    body = await run_in_threadpool(metrics.render, read)
    return Response(body, media_type=metrics.CONTENT_TYPE)
