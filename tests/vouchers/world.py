"""A small world for voucher tests: the vendor's finance, a partner with a quota, and
resale customers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnercenter.core.actor import Actor
from partnercenter.core.clock import utc_now
from partnercenter.customers.models import AssociationMode
from partnercenter.identity.models import Organisation, PartnerType
from partnercenter.vouchers import service
from partnercenter.vouchers.models import Voucher, VoucherQuota
from tests import factories
from tests.ledger.world import actor_of

DAY = dt.timedelta(days=1)


def terms(**changes: object) -> service.QuotaTerms:
    now = utc_now()
    values: dict[str, object] = {
        "amount": 100_000,
        "effective_time": now - DAY,
        "expire_time": now + 30 * DAY,
        "min_face_value": 100,
        "max_face_value": 50_000,
        "max_vouchers": 5,
    }
    values.update(changes)
    return service.QuotaTerms(**values)  # type: ignore[arg-type]


@dataclass
class World:
    db: Session
    vendor: factories.OrgWithAdmin
    finance: Actor
    partner: factories.OrgWithAdmin
    actor: Actor

    def customer(
        self,
        mode: AssociationMode = AssociationMode.RESALE,
        partner: Organisation | None = None,
    ) -> str:
        made = factories.associated_customer(
            self.db, partner or self.partner.organisation, mode
        )
        return made.organisation.id

    def quota(self, partner: Organisation | None = None, **changes: object) -> str:
        quota = service.grant_quota(
            self.db,
            self.finance,
            partner_id=(partner or self.partner.organisation).id,
            terms=terms(**changes),
        )
        return quota.id

    def issue(
        self, quota_id: str, *customers: str, face_value: int = 1_000, **rest: object
    ) -> service.IssueOutcome:
        return service.issue(
            self.db,
            self.actor,
            quota_id=quota_id,
            customer_ids=list(customers),
            face_value=face_value,
            **rest,  # type: ignore[arg-type]
        )

    def one(
        self, quota_id: str, customer_id: str, face_value: int = 1_000, **rest: object
    ) -> str:
        outcome = self.issue(quota_id, customer_id, face_value=face_value, **rest)
        assert outcome.refused == [], outcome.refused
        [(_, voucher_id)] = outcome.issued
        return voucher_id

    def quota_row(self, quota_id: str) -> VoucherQuota:
        quota = self.db.get(VoucherQuota, quota_id)
        assert quota is not None
        self.db.refresh(quota)
        return quota

    def voucher(self, voucher_id: str) -> Voucher:
        voucher = self.db.get(Voucher, voucher_id)
        assert voucher is not None
        self.db.refresh(voucher)
        return voucher

    def conserved(self, quota_id: str) -> bool:
        """Granted = left + issued and not returned + given to resellers and not back."""
        quota = self.quota_row(quota_id)
        in_vouchers = self.db.scalar(
            select(
                func.coalesce(func.sum(Voucher.face_value - Voucher.returned_amount), 0)
            ).where(Voucher.quota_id == quota_id)
        )
        with_resellers = self.db.scalar(
            select(
                func.coalesce(
                    func.sum(VoucherQuota.amount - VoucherQuota.reclaimed_amount), 0
                )
            ).where(VoucherQuota.parent_id == quota_id)
        )
        return quota.amount - quota.reclaimed_amount == (
            quota.balance + int(in_vouchers or 0) + int(with_resellers or 0)
        )


def world(
    db: Session, partner_type: PartnerType = PartnerType.SOLUTION_PROVIDER
) -> World:
    vendor = factories.vendor(db)
    partner = factories.partner(db, partner_type)
    db.flush()
    return World(db, vendor, actor_of(db, vendor), partner, actor_of(db, partner))
