"""The core: money, the clock, timestamps, the outbox, notifications, audit, settings."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core import audit, notifications, outbox
from partnercenter.core import logging as pc_logging
from partnercenter.core.actor import SYSTEM, Actor
from partnercenter.core.clock import FrozenClock, set_clock, utc_now
from partnercenter.core.db import pg_array
from partnercenter.core.i18n import best_locale, translator
from partnercenter.core.models import (
    MailboxMessage,
    Notification,
    OutboxMessage,
)
from partnercenter.core.money import (
    AmountError,
    Money,
    format_minor,
    parse_amount,
    to_decimal,
    to_minor,
    truncate_to_minor,
)
from partnercenter.core.settings import LogFormat, Settings, load_settings
from partnercenter.ledger.models import BatchItemStatus
from partnercenter.worker import run_once
from tests import factories


class TestMoney:
    @pytest.mark.parametrize(
        ("text_amount", "minor"),
        [
            ("0.01", 1),
            ("99999999.99", 9_999_999_999),
            ("100.5", 10_050),
            ("1.500", 150),
            ("7", 700),
        ],
    )
    def test_amounts_with_two_decimals_become_minor_units(
        self, text_amount: str, minor: int
    ) -> None:
        assert to_minor(text_amount) == minor
        assert to_minor(Decimal(text_amount)) == minor

    @pytest.mark.parametrize("bad", ["0.001", "abc", "NaN", "Infinity", ""])
    def test_malformed_or_over_precise_amounts_are_refused(self, bad: str) -> None:
        with pytest.raises(AmountError):
            to_minor(bad)

    def test_floats_never_pass_as_money(self) -> None:
        with pytest.raises(AmountError, match="float"):
            parse_amount(0.1)

    @pytest.mark.parametrize(
        ("minor", "shown"),
        [(0, "0.00"), (5, "0.05"), (-5, "-0.05"), (100, "1.00"), (-123456, "-1234.56")],
    )
    def test_minor_units_are_shown_with_two_decimals(
        self, minor: int, shown: str
    ) -> None:
        assert format_minor(minor) == shown

    @given(st.integers(min_value=-(10**17), max_value=10**17))
    def test_formatting_agrees_with_the_decimal_amount(self, minor: int) -> None:
        assert format_minor(minor) == str(to_decimal(minor))
        assert to_minor(format_minor(minor)) == minor

    def test_computed_charges_are_truncated_to_the_cent(self) -> None:
        assert truncate_to_minor(Decimal("12.34999999")) == 1234
        assert truncate_to_minor(Decimal("-0.019")) == -1

    def test_arithmetic_keeps_the_currency_and_refuses_mixing(self) -> None:
        total = Money.of("10.10", "CNY") + Money.of("0.05", "CNY")
        assert total == Money(1015, "CNY")
        assert str(total) == "10.15 CNY"
        with pytest.raises(ValueError, match="cannot mix"):
            _ = total - Money.of("1", "USD")

    def test_money_refuses_a_non_integer_amount(self) -> None:
        with pytest.raises(TypeError):
            Money(1.5, "CNY")  # type: ignore[arg-type]


class TestClock:
    def test_a_frozen_clock_needs_an_aware_time(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            FrozenClock(dt.datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test

    def test_the_installed_clock_answers_utc_now(self, clock: FrozenClock) -> None:
        before = utc_now()
        clock.move(hours=3)
        assert utc_now() - before == dt.timedelta(hours=3)
        assert utc_now().tzinfo is dt.UTC

    def test_set_clock_returns_the_previous_one(self) -> None:
        frozen = FrozenClock(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        previous = set_clock(frozen)
        try:
            assert utc_now().year == 2030
        finally:
            set_clock(previous)
        assert utc_now().year != 2030


class TestTimestamps:
    def test_aware_times_come_back_aware_and_equal(self, db: Session) -> None:
        moment = dt.datetime(
            2026, 5, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))
        )
        message = outbox.enqueue(db, "test", {}, available_at=moment)
        db.commit()
        db.expire_all()

        stored = db.get(OutboxMessage, message.id)
        assert stored is not None
        assert stored.available_at == moment
        assert stored.available_at.tzinfo is not None

    def test_naive_times_are_refused(self, db: Session) -> None:
        outbox.enqueue(db, "test", {}, available_at=dt.datetime(2026, 5, 1))  # noqa: DTZ001
        with pytest.raises(Exception, match="naive datetime"):
            db.flush()


class TestOutbox:
    def test_a_due_message_is_handled_once_and_marked_sent(
        self, session_factory: sessionmaker[Session]
    ) -> None:
        seen: list[dict[str, Any]] = []
        with session_factory.begin() as db:
            outbox.enqueue(db, "test", {"n": 1})

        handlers = {"test": lambda _db, payload: seen.append(payload)}
        assert outbox.deliver_due(session_factory, handlers) == 1
        assert outbox.deliver_due(session_factory, handlers) == 0
        assert seen == [{"n": 1}]

    def test_a_message_written_in_a_rolled_back_transaction_never_exists(
        self, session_factory: sessionmaker[Session]
    ) -> None:
        db = session_factory()
        outbox.enqueue(db, "test", {"n": 1})
        db.rollback()
        db.close()

        assert outbox.deliver_due(session_factory, {"test": lambda _db, _p: None}) == 0

    def test_a_failing_handler_is_retried_later_then_given_up(
        self, session_factory: sessionmaker[Session], clock: FrozenClock
    ) -> None:
        with session_factory.begin() as db:
            message = outbox.enqueue(db, "test", {})
            db.flush()
            message_id = message.id

        def fail(_db: Session, _payload: dict[str, Any]) -> None:
            raise RuntimeError("smtp down")

        for _ in range(outbox.MAX_ATTEMPTS):
            assert outbox.deliver_due(session_factory, {"test": fail}) == 0
            # Not tried again before its back-off has passed.
            assert outbox.deliver_due(session_factory, {"test": fail}) == 0
            clock.move(hours=2)

        with session_factory() as db:
            message = db.get(OutboxMessage, message_id)
            assert message is not None
            assert message.attempts == outbox.MAX_ATTEMPTS
            assert message.failed_at is not None
            assert message.last_error == "RuntimeError: smtp down"


class TestNotifications:
    def test_a_notice_is_shown_and_mailed_in_the_readers_language(
        self, session_factory: sessionmaker[Session], settings: Settings
    ) -> None:
        with session_factory.begin() as db:
            reader = factories.user(db, locale="en")
            notifications.notify(
                db,
                user=reader,
                kind="generic",
                params={"title": "Hello", "body": "World"},
                link="/console",
                base_url="http://pc.example",
                default_locale="zh-CN",
            )
            reader_id, email = reader.id, reader.email

        run_once(session_factory, settings)

        with session_factory() as db:
            assert notifications.unread_count(db, reader_id) == 1
            mail = db.scalars(select(MailboxMessage)).one()
            assert mail.recipient == email
            assert mail.subject == "Hello"
            assert "http://pc.example/console" in mail.body

    def test_marking_read_clears_the_unread_count(self, db: Session) -> None:
        reader = factories.user(db)
        for n in range(3):
            notifications.notify(
                db,
                user=reader,
                kind="generic",
                params={"title": f"t{n}", "body": ""},
                link=None,
                base_url="",
                default_locale="zh-CN",
                email=False,
            )
        first = db.scalars(select(Notification)).first()
        assert first is not None

        notifications.mark_read(db, reader.id, first.id)
        assert notifications.unread_count(db, reader.id) == 2
        notifications.mark_read(db, reader.id)
        assert notifications.unread_count(db, reader.id) == 0


class TestAudit:
    def test_events_are_found_by_organisation_action_and_subject_newest_first(
        self, db: Session, clock: FrozenClock
    ) -> None:
        actor = Actor(
            organisation_id="org-a",
            organisation_kind="reseller",
            permissions=frozenset(),
        )
        audit.record(
            db,
            actor,
            "member.invited",
            subject_type="member",
            subject_id="1",
            organisation_id="org-a",
        )
        clock.move(minutes=1)
        audit.record(
            db,
            actor,
            "member.removed",
            subject_type="member",
            subject_id="1",
            organisation_id="org-a",
            before={"bound": True},
            reason="left the company",
        )
        audit.record(
            db,
            SYSTEM,
            "member.invited",
            subject_type="member",
            subject_id="2",
            organisation_id="org-b",
        )
        db.flush()

        own = audit.find(db, audit.AuditQuery(organisation_id="org-a"))
        assert [e.action for e in own] == ["member.removed", "member.invited"]
        invited = audit.find(db, audit.AuditQuery(action_prefix="member.invited"))
        assert {e.organisation_id for e in invited} == {"org-a", "org-b"}
        removed = audit.find(
            db,
            audit.AuditQuery(
                organisation_id="org-a", subject_id="1", action_prefix="member.removed"
            ),
        )
        assert removed[0].reason == "left the company"
        assert removed[0].before == {"bound": True}


class TestDatabaseEnforcement:
    def test_a_partner_must_have_a_type(self, db: Session) -> None:
        with pytest.raises(Exception, match=r"(?i)check"):
            db.execute(
                text(
                    "INSERT INTO organisations (id, kind, account_name, display_name, "
                    "is_active, created_at) VALUES ('x1', 'partner', 'no-type', 'No type', "
                    "true, CURRENT_TIMESTAMP)"
                )
            )

    def test_there_is_only_one_vendor(self, db: Session) -> None:
        factories.vendor(db)
        with pytest.raises(Exception, match=r"(?i)unique"):
            factories.vendor(db)


class TestArrayParameters:
    @pytest.mark.postgresql_only
    def test_values_arrive_whole_whatever_characters_they_hold(
        self, db: Session
    ) -> None:
        texts = [
            "plain",
            "a,b",
            'quote " and \\ slash',
            "{braces}",
            "NULL",
            " ",
            "客户",
        ]
        [(back,)] = db.execute(
            text("SELECT CAST(:values AS text[])"), {"values": pg_array([*texts, None])}
        )
        assert back == [*texts, None]
        [(numbers,)] = db.execute(
            text("SELECT CAST(:values AS bigint[])"),
            {"values": pg_array([0, -7, 2**62])},
        )
        assert numbers == [0, -7, 2**62]

    @pytest.mark.postgresql_only
    @pytest.mark.parametrize(
        ("values", "cast", "expected"),
        [
            # Plain strings and enum members, with no character to escape and no NULL.
            (["AD1", "AD2", ""], "text[]", ["AD1", "AD2", ""]),
            (
                [BatchItemStatus.DONE, "refused", BatchItemStatus.PENDING],
                "text[]",
                ["done", "refused", "pending"],
            ),
            # Integers beside NULLs are quoted, and still read as numbers.
            ([5, None, -3], "bigint[]", [5, None, -3]),
            ([None, None], "text[]", [None, None]),
            (["one backslash \\", "x"], "text[]", ["one backslash \\", "x"]),
            ([], "bigint[]", []),
        ],
    )
    def test_every_kind_of_list_round_trips(
        self, db: Session, values: list[object], cast: str, expected: list[object]
    ) -> None:
        [(back,)] = db.execute(
            text(f"SELECT CAST(:values AS {cast})"), {"values": pg_array(values)}
        )
        assert back == expected


class TestSettings:
    def test_a_generated_secret_key_is_kept_for_the_next_process(
        self, tmp_path: Path
    ) -> None:
        first = Settings(data_dir=tmp_path, secret_key="").resolved_secret_key
        second = Settings(data_dir=tmp_path, secret_key="").resolved_secret_key
        assert first == second
        assert len(first) >= 48
        assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0

    def test_settings_come_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("PARTNERCENTER_LOCALE", "en_US")
        monkeypatch.setenv("PARTNERCENTER_DATA_DIR", str(tmp_path))
        settings = Settings()
        assert settings.locale == "en"
        assert (
            settings.resolved_database_url
            == f"sqlite:///{tmp_path}/partnercenter.sqlite3"
        )

    def test_a_settings_file_is_read_and_the_environment_wins(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        config = tmp_path / "partnercenter.env"
        config.write_text(
            "PARTNERCENTER_LOCALE=en\nPARTNERCENTER_BASE_URL=https://partners.example.com\n"
        )
        monkeypatch.setenv("PARTNERCENTER_CONFIG_FILE", str(config))
        monkeypatch.setenv("PARTNERCENTER_BASE_URL", "https://override.example.com")

        settings = load_settings()

        assert settings.locale == "en"
        assert settings.base_url == "https://override.example.com"

    def test_a_missing_settings_file_is_an_error(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("PARTNERCENTER_CONFIG_FILE", str(tmp_path / "nope.env"))
        with pytest.raises(FileNotFoundError, match=r"nope\.env"):
            load_settings()

    def test_every_setting_is_described_and_secrets_are_masked(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(
            data_dir=tmp_path, secret_key="s3cret", smtp_url="smtp://u:p@h"
        )
        described = {
            name: (text_, value) for name, text_, value in settings.described()
        }
        assert all(text_ for text_, _value in described.values())
        assert described["PARTNERCENTER_SECRET_KEY"][1] == "********"
        assert described["PARTNERCENTER_SMTP_URL"][1] == "********"


class TestLanguages:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("en-US,en;q=0.9", "en"),
            ("zh-TW,zh;q=0.8", "zh-CN"),
            ("fr-FR", "zh-CN"),
            (None, "zh-CN"),
        ],
    )
    def test_accept_language_picks_a_supported_locale(
        self, header: str | None, expected: str
    ) -> None:
        assert best_locale(header, "zh-CN") == expected

    def test_money_and_dates_are_formatted_per_locale(self) -> None:
        zh, en = translator("zh-CN"), translator("en")
        assert zh.format_money(Decimal("1234.5"), "CNY") == "¥1,234.50"
        assert en.format_money(Decimal("1234.5"), "CNY") == "CN¥1,234.50"
        moment = dt.datetime(2026, 1, 31, 20, 0, tzinfo=dt.UTC)
        assert "2026年2月1日" in zh.format_datetime(moment, "Asia/Shanghai")
        assert "Feb 1, 2026" in en.format_datetime(moment, "Asia/Shanghai")


class TestLogging:
    def test_json_lines_carry_the_request_id_and_never_secrets(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pc_logging.configure(LogFormat.JSON)
        pc_logging.bind_request("req-12345678")
        pc_logging.get_logger("test").info(
            "credential.used", access_key="AK1", secret_key="x"
        )
        pc_logging.clear_request()

        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert line["event"] == "credential.used"
        assert line["request_id"] == "req-12345678"
        assert line["secret_key"] == "********"
        assert line["access_key"] == "AK1"


class TestSettingsDocument:
    def test_docs_list_every_setting_as_the_code_describes_it(self) -> None:
        import importlib.util

        path = Path(__file__).resolve().parent.parent / "scripts" / "settings_doc.py"
        spec = importlib.util.spec_from_file_location("settings_doc", path)
        assert spec
        assert spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.main(["--check"]) == 0, "run scripts/settings_doc.py"
