"""Two partners registering one prospect at the same moment: the unique claim decides."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.customers.intake import registrations
from partnercenter.customers.models import Registration, RegistrationClaim
from partnercenter.identity import service as identity
from tests import factories

pytestmark = pytest.mark.postgresql_only


class TestRegistrationRace:
    def test_exactly_one_of_two_racing_partners_wins(
        self, db: Session, session_factory: sessionmaker[Session]
    ) -> None:
        partners = [factories.partner(db), factories.partner(db)]
        ids = [(p.admin.id, p.organisation.id) for p in partners]
        db.commit()
        barrier = threading.Barrier(len(ids))
        outcomes: list[str] = []

        def race(user_id: str, organisation_id: str) -> None:
            with session_factory() as session:
                actor = identity.actor_for(
                    session, identity.get_user(session, user_id), organisation_id
                )
                barrier.wait(timeout=10)
                try:
                    registrations.register(
                        session,
                        actor,
                        prospect_name="Lanting",
                        email="contested@example.com",
                        phone=None,
                    )
                    session.commit()
                    outcomes.append("won")
                except registrations.ProspectTaken:
                    session.rollback()
                    outcomes.append("refused")

        threads = [threading.Thread(target=race, args=pair) for pair in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert sorted(outcomes) == ["refused", "won"]
        assert db.scalar(select(func.count()).select_from(Registration)) == 1
        assert db.scalars(select(RegistrationClaim.key)).all() == [
            "email:contested@example.com"
        ]
