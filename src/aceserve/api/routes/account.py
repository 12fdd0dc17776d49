"""Account endpoints (contract §8): balance and limits, active task counts, task history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from aceserve.api import schemas
from aceserve.api.deps import AccountDep, Services, ServicesDep
from aceserve.api.envelope import success
from aceserve.domain.billing import units_to_usd, usd_to_units
from aceserve.domain.errors import InvalidInput
from aceserve.domain.states import MODEL_NAME, TaskStatus, is_model_name
from aceserve.store import accounts
from aceserve.store import tasks as task_store
from aceserve.store.models import Task
from aceserve.store.render import absolute_urls, format_time, render_task, render_usage

router = schemas.authenticated(APIRouter(tags=["account"]))
MAX_PAGE_SIZE = 100
UNLIMITED_UNITS = usd_to_units(1_000_000_000)  # what unlimited credit reports: PiAPI clients expect a number
MAX_PAGE = 1_000_000  # keeps the OFFSET far inside SQL's 64-bit range


@router.get(
    "/account/info",
    summary="Account, balance and limits",
    operation_id="account_info",
    response_model=None,
    responses=schemas.responses(schemas.AccountInfoResponse, 401, 429),
)
def account_info(account: AccountDep, services: ServicesDep) -> dict[str, Any]:
    return success(account_view(services, account.id))


def account_view(services: Services, account_id: str) -> dict[str, Any]:
    """The account as ``/account/info`` shows it (REST and MCP)."""
    with services.db.read() as session:
        fresh = accounts.get_account(session, account_id)
        credits = accounts.credits(session, fresh)
    available = UNLIMITED_UNITS if credits.available is None else credits.available
    return {
        "id": fresh.id,
        "name": fresh.name,
        "plan": fresh.plan,
        "credit_pack_info": {
            "used_credits": credits.used,
            "available_credits": available,
            "total_credits": credits.used + credits.frozen + available if credits.total is None else credits.total,
        },
        "equivalent_in_usd": units_to_usd(available),
        "account_id": fresh.id,
        "account_name": fresh.name,
        "frozen_in_usd": units_to_usd(credits.frozen),
        "unlimited_credit": credits.available is None,
        "max_concurrent_task_count": fresh.max_concurrent,
        "created_at": format_time(fresh.created_at),
    }


@router.get(
    "/account/active_tasks",
    summary="Counts of staged, pending and processing tasks",
    operation_id="active_tasks",
    response_model=None,
    responses=schemas.responses(schemas.ActiveTasksResponse, 401, 429),
)
def active_tasks(account: AccountDep, services: ServicesDep) -> dict[str, Any]:
    with services.db.read() as session:
        counts = task_store.count_by_status(session, account.id)
    return success(
        {
            "ace_step": {
                "staged_count": counts[TaskStatus.STAGED],
                "pending_count": counts[TaskStatus.PENDING],
                "processing_count": counts[TaskStatus.PROCESSING],
                "active_tasks": sum(counts.values()),
            }
        }
    )


@router.get(
    "/api/open/tasks/histories",
    summary="Paged task history, newest first",
    operation_id="task_histories",
    response_model=None,
    responses=schemas.responses(schemas.HistoryPageResponse, 400, 401, 429),
)
def histories(
    account: AccountDep,
    services: ServicesDep,
    page: Annotated[
        int, Query(description="1-based page number", json_schema_extra={"minimum": 1, "maximum": MAX_PAGE})
    ] = 1,
    page_size: Annotated[
        int,
        Query(
            description=f"rows per page, at most {MAX_PAGE_SIZE}",
            json_schema_extra={"minimum": 1, "maximum": MAX_PAGE_SIZE},
        ),
    ] = 10,
    model: Annotated[
        str, Query(description="only tasks of this model: `Qubico/ace-step`, `ace-step` or `ace_step` (any case)")
    ] = "",
    start_time: Annotated[str, Query(description="unix seconds or RFC 3339; tasks created at or after")] = "",
    end_time: Annotated[str, Query(description="unix seconds or RFC 3339; tasks created at or before")] = "",
) -> dict[str, Any]:
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput("page", f"must be between 1 and {MAX_PAGE}; got {page}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput("page_size", f"must be between 1 and {MAX_PAGE_SIZE}; got {page_size}")
    start, end = parse_time("start_time", start_time), parse_time("end_time", end_time)
    if start and end and start > end:
        raise InvalidInput("start_time", "must not be after `end_time`")
    if model and not is_model_name(model):
        return success({"data": [], "page": page, "size": page_size, "total": 0})
    return success(history_page(services, account.id, page=page, page_size=page_size, start=start, end=end))


def history_page(
    services: Services,
    account_id: str,
    *,
    page: int = 1,
    page_size: int = 10,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """One page of the account's tasks, newest first (REST and MCP)."""
    with services.db.read() as session:
        found = task_store.list_history(session, account_id, page=page, page_size=page_size, start=start, end=end)
        rows = [history_row(task, services.settings.public_url) for task in found.tasks]
    return {"data": rows, "page": page, "size": page_size, "total": found.total}


def history_row(task: Task, public_url: str) -> dict[str, Any]:
    rendered = absolute_urls(render_task(task), public_url)
    return {
        "task_id": task.id,
        "task_model": MODEL_NAME,
        "action": task.task_type,
        "status": rendered["status"],
        "usage": render_usage(task),
        "created_at": format_time(task.created_at),
        "updated_at": format_time(task.updated_at),
        "detail": {"model": MODEL_NAME, "task_type": task.task_type, "output": rendered["output"]},
    }


def parse_time(field: str, value: str) -> datetime | None:
    if not value:
        return None
    try:
        if value.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # In UTC here, so a time that has no UTC form (year 1 at +01:00) is this 400, not a 500 later.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(field, f"must be unix seconds or an RFC 3339 time; got {value!r}") from None
