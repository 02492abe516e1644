"""The audit log page and its CSV export, for partners (their own) and the vendor (all)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from partnercenter.admin import audit_log
from partnercenter.admin.audit_log import AuditFilters
from partnercenter.admin.paging import Pager
from partnercenter.core import audit
from partnercenter.core.clock import local_date, utc_now
from partnercenter.core.errors import InvalidInput
from partnercenter.core.logging import get_logger
from partnercenter.web.context import DB, ActingPage
from partnercenter.web.forms import form_error

router = APIRouter()
log = get_logger(__name__)


def _filters(
    *,
    action: str = "",
    subject_type: str = "",
    subject_id: str = "",
    actor: str = "",
    organisation: str = "",
    date_from: Annotated[str, Query(alias="from")] = "",
    date_to: Annotated[str, Query(alias="to")] = "",
    offset: int = 0,
) -> AuditFilters:
    return AuditFilters(
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        organisation=organisation,
        date_from=date_from,
        date_to=date_to,
        offset=offset,
    )


Filters = Annotated[AuditFilters, Depends(_filters)]


@router.get("/audit")
def audit_page(page: ActingPage, db: DB, filters: Filters) -> Response:
    assert page.actor is not None
    sees_everything = audit_log.sees_everything(page.actor)
    if not sees_everything:
        # The organisation filter is not theirs to use; keep it out of links too.
        filters = replace(filters, organisation="")
    timezone = page.settings.display_timezone
    rows: list[audit_log.AuditRow] = []
    total = 0
    error = None
    try:
        query = audit_log.build_query(db, page.actor, filters, timezone=timezone)
        total = audit.count(db, query)
        rows = audit_log.readable_rows(db, audit.find(db, query), page.tr)
    except InvalidInput as invalid:
        error = form_error(invalid, page.tr)
    params = filters.as_params()
    return page.render(
        "admin/audit.html",
        status_code=400 if error else 200,
        filters=filters,
        error=error,
        rows=rows,
        sees_everything=sees_everything,
        export_params=params,
        pager=Pager(
            "/audit", total, max(filters.offset, 0), audit_log.PAGE_SIZE, params
        ),
    )


@router.get("/audit/export.csv")
def audit_export(page: ActingPage, db: DB, filters: Filters) -> Response:
    assert page.actor is not None
    timezone = page.settings.display_timezone
    # Every matching row is exported, not only the page on screen.
    query = audit_log.build_query(
        db, page.actor, replace(filters, offset=0), timezone=timezone
    )
    text = audit_log.export_csv(db, query, page.tr, timezone=timezone)
    log.info(
        "audit.exported",
        organisation_id=query.organisation_id,
        exported_by=page.actor.user_id,
    )
    day = local_date(utc_now(), timezone).isoformat()
    # The byte order mark is what makes Excel read the file as UTF-8 (Chinese included).
    return Response(
        ("\ufeff" + text).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{day}.csv"'},
    )
