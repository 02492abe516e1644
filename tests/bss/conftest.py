"""A served app with a small channel, and the official SDK's clients for its keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import pytest
from fastapi import FastAPI
from huaweicloudsdkbss.v2 import BssClient
from huaweicloudsdkcore.auth.credentials import GlobalCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from sqlalchemy.orm import Session

from partnercenter.customers.models import AssociationMode
from partnercenter.identity.models import PartnerType
from partnercenter.ledger import service as ledger
from tests import factories
from tests.ledger.world import TwoTiers, World, actor_of, world
from tests.live import LiveServer, serve
from tests.signing import ApiKey, api_key

T = TypeVar("T")


def sdk_client(server: LiveServer, key: ApiKey) -> BssClient:
    config = HttpConfig.get_default_config()
    config.timeout = (5, 30)
    return (
        BssClient.new_builder()
        .with_credentials(GlobalCredentials(key.ak, key.sk, key.domain_id))
        .with_http_config(config)
        .with_endpoint(server.url)
        .build()
    )


@dataclass
class Channel:
    """A solution provider with money and customers, a distributor with a reseller, each
    with its own key, all served over HTTP."""

    server: LiveServer
    db: Session
    w: World
    tiers: TwoTiers
    resale: str
    consulting: str
    reseller_customer: str
    partner_key: ApiKey
    distributor_key: ApiKey
    reseller_key: ApiKey
    customer_key: ApiKey

    @property
    def reseller_id(self) -> str:
        return self.reseller_key.domain_id

    def look(self, model: type[T], key: object) -> T:
        """A row as it is now, read in a transaction that is over when this returns: on
        SQLite an open transaction of the test would hold the write lock the server
        needs."""
        found = self.db.get(model, key)
        assert found is not None
        self.db.expunge(found)
        self.db.rollback()
        return found

    def done(self) -> None:
        """End the test's transaction, so that the server can write (on SQLite)."""
        self.db.commit()

    def client(self, key: ApiKey) -> BssClient:
        return sdk_client(self.server, key)

    @property
    def partner(self) -> BssClient:
        return self.client(self.partner_key)

    @property
    def distributor(self) -> BssClient:
        return self.client(self.distributor_key)


@pytest.fixture
def channel(app: FastAPI, db: Session) -> Iterator[Channel]:
    app.state.settings.bss_rate_limit = 0
    w = world(db)
    w.topup(1_000_00)
    resale = w.customer()
    consulting = w.customer(AssociationMode.CONSULTING)
    distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
    reseller_made = factories.partner(
        db, PartnerType.RESELLER, parent=distributor.organisation
    )
    db.flush()
    tiers = TwoTiers(
        World(db, w.vendor, w.finance, distributor, actor_of(db, distributor)),
        reseller_made,
        actor_of(db, reseller_made),
    )
    tiers.world.topup(500_00)
    reseller = reseller_made.organisation
    reseller_customer = tiers.world.customer(partner=reseller)
    ledger.allocate_to_reseller(
        db, tiers.distributor_actor, reseller_id=reseller.id, amount=200_00
    )
    customer_org = db.get(type(w.partner.organisation), resale)
    assert customer_org is not None
    keys = (
        api_key(app, db, w.partner.organisation),
        api_key(app, db, tiers.distributor.organisation),
        api_key(app, db, reseller),
        api_key(app, db, customer_org),
    )
    db.commit()
    db.expire_on_commit = False
    with serve(app) as server:
        yield Channel(
            server,
            db,
            w,
            tiers,
            resale,
            consulting,
            reseller_customer,
            *keys,
        )
