"""Console pages of batch allocation: the form, the progress and result of one batch, its
items as CSV, and the list of past batches.

A batch is stored and committed by the request, then run in a background thread one
committed chunk at a time; its page reloads itself every second until the batch is done.
A batch cut short by a restart is finished by the worker (``ledger.finish_batches``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from partnercenter.admin.paging import Pager
from partnercenter.core.actor import Actor
from partnercenter.core.errors import DomainError, FieldProblem, InvalidInput
from partnercenter.core.i18n import N_
from partnercenter.identity.permissions import Permission
from partnercenter.ledger import batches, queries, service
from partnercenter.ledger.console import inputs, labels
from partnercenter.ledger.console.common import (
    csv_download,
    is_distributor,
    partner_actor,
    resale_customers,
    resellers_of,
    template_values,
)
from partnercenter.ledger.models import BatchItemStatus, BatchStatus, TransferKind
from partnercenter.web.context import DB, ActingPage, Page, take_flash
from partnercenter.web.forms import FormError, form_error

router = APIRouter()

TextField = Annotated[str, Form()]
ITEMS_PAGE = 50
LIST_PAGE = 25
BATCH_KINDS = {"allocate": TransferKind.ALLOCATE, "reclaim": TransferKind.RECLAIM}


def start(request: Request, batch_id: str) -> None:
    """Run the committed batch in the background, so that its page can show progress."""
    threading.Thread(
        target=batches.run,
        args=(request.app.state.session_factory, batch_id),
        kwargs={"streams": request.app.state.settings.batch_streams},
        daemon=True,
    ).start()


@router.get("/funds/batches")
def batch_list(page: ActingPage, db: DB, offset: int = 0) -> Response:
    actor = partner_actor(page)
    found = queries.batches_of(
        db, actor.organisation_id, offset=offset, limit=LIST_PAGE
    )
    return page.render(
        "ledger/funds_batches.html",
        found=found,
        pager=Pager("/funds/batches", found.total, found.offset, found.limit),
        batch_kind=lambda kind: page.tr.gettext(labels.BATCH_KIND_LABELS[kind]),
        batch_status=lambda status: page.tr.gettext(labels.BATCH_STATUS_LABELS[status]),
        **template_values(page, page.settings.currency),
    )


def _form_page(
    page: Page,
    db: Session,
    actor: Actor,
    form: dict[str, str],
    chosen: list[str],
    *,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    currency = page.settings.currency
    resellers = resellers_of(db, actor)
    indirect = form.get("indirect_partner_id", "")
    if indirect not in {reseller.id for reseller in resellers}:
        indirect = ""
    return page.render(
        "ledger/funds_batch_new.html",
        status_code=status_code,
        error=error,
        form={**form, "indirect_partner_id": indirect},
        chosen=set(chosen),
        customers=resale_customers(db, actor, indirect or None),
        resellers=resellers,
        distributor=is_distributor(actor),
        balances=service.partner_balances(
            db, indirect or actor.organisation_id, currency
        ),
        max_items=page.tr.format_number(batches.MAX_ITEMS),
        **template_values(page, currency),
    )


@router.get("/funds/batches/new")
def batch_form(
    page: ActingPage, db: DB, indirect_partner_id: str = "", kind: str = "allocate"
) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    form = {
        "kind": kind if kind in BATCH_KINDS else "allocate",
        "indirect_partner_id": indirect_partner_id.strip(),
        "lines": "",
        "each_amount": "",
        "reason": "",
    }
    return _form_page(page, db, actor, form, [])


def _read_upload(upload: UploadFile | None) -> str:
    if upload is None or not upload.filename:
        return ""
    data = upload.file.read(inputs.MAX_UPLOAD + 1)
    if len(data) > inputs.MAX_UPLOAD:
        raise InvalidInput(
            problems=[
                FieldProblem(
                    "file",
                    N_("The file is larger than %(size)s MB."),
                    {"size": inputs.MAX_UPLOAD // (1024 * 1024)},
                )
            ]
        )
    return inputs.decode_upload(data)


@router.post("/funds/batches")
def batch_create(
    *,
    request: Request,
    page: ActingPage,
    db: DB,
    kind: TextField = "allocate",
    lines: TextField = "",
    each_amount: TextField = "",
    reason: TextField = "",
    indirect_partner_id: TextField = "",
    customer_ids: Annotated[list[str] | None, Form()] = None,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    actor = partner_actor(page, Permission.FUNDS_TRANSFER)
    chosen = [c.strip() for c in customer_ids or [] if c.strip()]
    form = {
        "kind": kind if kind in BATCH_KINDS else "allocate",
        "indirect_partner_id": indirect_partner_id.strip(),
        "lines": lines,
        "each_amount": each_amount.strip(),
        "reason": reason.strip(),
    }
    try:
        each: int | None = None
        if form["each_amount"]:
            each = inputs.amount(form["each_amount"], "each_amount")
        elif chosen:
            raise InvalidInput(
                problems=[
                    FieldProblem(
                        "each_amount", N_("Enter the amount for each chosen customer.")
                    )
                ]
            )
        text = "\n".join([lines, _read_upload(file)])
        items = inputs.batch_items(text, each) + [(c, each or 0) for c in chosen]
        inputs.check_batch_size(items)
        why = inputs.reason(form["reason"])
        batch = batches.create(
            db,
            actor,
            kind=BATCH_KINDS[form["kind"]],
            items=items,
            indirect_partner_id=form["indirect_partner_id"] or None,
            reason=why,
            currency=page.settings.currency,
        )
    except DomainError as error:
        db.rollback()
        return _form_page(
            page,
            db,
            actor,
            form,
            chosen,
            error=form_error(error, page.tr),
            status_code=error.status,
        )
    batch_id = batch.id
    # The thread reads the batch through its own session: it must be committed first.
    db.commit()
    start(request, batch_id)
    return page.redirect(f"/funds/batches/{batch_id}")


@router.get("/funds/batches/{batch_id}")
def batch_page(
    page: ActingPage, db: DB, batch_id: str, status: str = "", offset: int = 0
) -> Response:
    actor = partner_actor(page)
    batch = batches.get(db, actor, batch_id)
    shown = BatchItemStatus(status) if status in set(BatchItemStatus) else None
    found = queries.batch_lines(
        db, batch, status=shown, offset=offset, limit=ITEMS_PAGE
    )
    running = batch.status is not BatchStatus.DONE
    refusals = sorted(
        batches.counts_by_error(db, batch.id).items(),
        key=lambda pair: (-pair[1], pair[0] or ""),
    )
    response = page.render(
        "ledger/funds_batch.html",
        flash=take_flash(page.request),
        batch=batch,
        progress=batches.Progress(batch),
        running=running,
        refusals=refusals,
        found=found,
        status=str(shown) if shown else "",
        statuses=[
            (str(code), page.tr.gettext(label))
            for code, label in labels.ITEM_STATUS_LABELS.items()
        ],
        item_status=lambda code: page.tr.gettext(labels.ITEM_STATUS_LABELS[code]),
        batch_kind=page.tr.gettext(labels.BATCH_KIND_LABELS[batch.kind]),
        batch_status=page.tr.gettext(labels.BATCH_STATUS_LABELS[batch.status]),
        pager=Pager(
            f"/funds/batches/{batch.id}",
            found.total,
            found.offset,
            found.limit,
            {"status": str(shown)} if shown else {},
        ),
        **template_values(page, batch.currency),
    )
    if running:
        # Besides the page's own meta refresh, for clients that only read headers.
        response.headers["Refresh"] = "1"
    return response


@router.get("/funds/batches/{batch_id}/items.csv")
def batch_items_export(
    request: Request, page: ActingPage, db: DB, batch_id: str
) -> Response:
    actor = partner_actor(page)
    batch = batches.get(db, actor, batch_id)
    tr = page.tr
    header = [
        tr.gettext(text)
        for text in (
            N_("Line"),
            N_("Customer ID"),
            N_("Customer"),
            N_("Amount"),
            N_("Currency"),
            N_("Status"),
            N_("Transfer ID"),
            N_("Reason for refusal"),
        )
    ]
    currency = batch.currency

    def cells(line: queries.BatchLine) -> list[str]:
        return [
            str(line.position + 1),
            line.customer_id,
            line.customer_name or "",
            labels.plain_amount(line.amount),
            currency,
            tr.gettext(labels.ITEM_STATUS_LABELS[line.status]),
            line.transfer_id or "",
            labels.error_label(tr, line.error_code),
        ]

    def pieces(session: Session) -> Iterator[str]:
        return queries.csv_stream(
            header, queries.iter_batch_lines(session, batch_id), cells
        )

    return csv_download(
        request, f"batch-{batch_id}", pieces, page.settings.display_timezone
    )
