"""The command line, as operators and scripts use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnercenter.cli import main
from partnercenter.identity.models import ApiCredential, Organisation, PartnerType
from tests import factories


@pytest.fixture
def run(database_url: str, tmp_path: Path) -> object:
    env = {
        "PARTNERCENTER_DATABASE_URL": database_url,
        "PARTNERCENTER_DATA_DIR": str(tmp_path / "cli-data"),
        "PARTNERCENTER_SECRET_KEY": "test-secret-key-not-for-production",
        "PARTNERCENTER_LOG_LEVEL": "ERROR",
    }

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), env=env, input=stdin)

    return invoke


class TestOrganisationsCommands:
    def test_orgs_list_json_has_the_documented_shape(
        self, run: object, db: Session
    ) -> None:
        vendor = factories.vendor(db)
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        reseller = factories.partner(
            db, PartnerType.RESELLER, parent=distributor.organisation
        )
        factories.customer(db)
        db.commit()

        result = run("orgs", "list", "--json")  # type: ignore[operator]

        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)
        assert all(
            set(row) == {"id", "kind", "account_name", "parent_id"} for row in rows
        )
        kinds = {row["account_name"]: row["kind"] for row in rows}
        assert kinds[vendor.organisation.account_name] == "vendor"
        assert kinds[distributor.organisation.account_name] == "distributor"
        assert kinds[reseller.organisation.account_name] == "reseller"
        assert "customer" in kinds.values()
        parents = {row["id"]: row["parent_id"] for row in rows}
        assert parents[reseller.organisation.id] == distributor.organisation.id
        assert parents[distributor.organisation.id] is None

    def test_create_and_update_a_partner(self, run: object, db: Session) -> None:
        factories.vendor(db)
        distributor = factories.partner(db, PartnerType.DISTRIBUTOR)
        db.commit()

        created = run(  # type: ignore[operator]
            "orgs",
            "create-partner",
            "--account-name",
            "river-tech",
            "--name",
            "River Tech",
            "--type",
            "reseller",
            "--region",
            "CN",
            "--distributor",
            distributor.organisation.account_name,
            "--email",
            "owner@river.example.com",
            "--registration-number",
            "91310000MA1FL0001X",
        )
        assert created.exit_code == 0, created.output
        assert json.loads(created.stdout)["kind"] == "reseller"

        updated = run("orgs", "update", "river-tech", "--name", "River Technology")  # type: ignore[operator]
        assert updated.exit_code == 0, updated.output
        db.expire_all()
        partner = db.scalars(
            select(Organisation).where(Organisation.account_name == "river-tech")
        ).one()
        assert partner.display_name == "River Technology"
        assert partner.parent_id == distributor.organisation.id

    def test_a_reseller_without_distributor_is_refused_with_the_reason(
        self, run: object, db: Session
    ) -> None:
        factories.vendor(db)
        db.commit()

        result = run(  # type: ignore[operator]
            "orgs",
            "create-partner",
            "--account-name",
            "lone-reseller",
            "--name",
            "Lone",
            "--type",
            "reseller",
            "--region",
            "CN",
            "--email",
            "a@lone.example.com",
            "--registration-number",
            "91310000MA1FL0002X",
        )

        assert result.exit_code == 1
        assert "distributor" in result.output


class TestCredentialsCommand:
    def test_prints_only_ak_sk_and_domain_id(self, run: object, db: Session) -> None:
        partner = factories.partner(db)
        db.commit()

        result = run(
            "credentials", "create", "--org", partner.organisation.account_name
        )  # type: ignore[operator]

        assert result.exit_code == 0, result.output
        issued = json.loads(result.stdout)
        assert set(issued) == {"ak", "sk", "domain_id"}
        assert issued["domain_id"] == partner.organisation.id
        stored = db.scalars(
            select(ApiCredential).where(ApiCredential.access_key == issued["ak"])
        ).one()
        assert issued["sk"] not in stored.secret_encrypted

    def test_unknown_organisation(self, run: object) -> None:
        result = run("credentials", "create", "--org", "nobody-at-all")  # type: ignore[operator]
        assert result.exit_code == 1
        assert "no organisation" in result.output


class TestAdminAndDemo:
    def test_create_admin_makes_the_vendor_on_first_use(
        self, run: object, db: Session
    ) -> None:
        result = run(  # type: ignore[operator]
            "create-admin",
            "--account-name",
            "first-admin",
            "--email",
            "root@vendor.example.com",
            stdin="Strong-Pass-2026\nStrong-Pass-2026\n",
        )

        assert result.exit_code == 0, result.output
        listed = json.loads(run("orgs", "list", "--json").stdout)  # type: ignore[operator]
        assert [row["kind"] for row in listed] == ["vendor"]

    def test_seed_demo_once(self, run: object) -> None:
        first = run("seed-demo")  # type: ignore[operator]
        assert first.exit_code == 0, first.output
        assert "nimbus-admin" in first.output
        second = run("seed-demo")  # type: ignore[operator]
        assert "not added" in second.output


class TestDatabaseCommands:
    def test_upgrade_creates_and_migrates_an_empty_sqlite_file(
        self, tmp_path: Path
    ) -> None:
        env = {
            "PARTNERCENTER_DATA_DIR": str(tmp_path / "fresh"),
            "PARTNERCENTER_LOG_LEVEL": "ERROR",
        }
        runner = CliRunner()

        refused = runner.invoke(main, ["orgs", "list"], env=env)
        assert refused.exit_code == 1
        assert "partnercenter db upgrade" in refused.output

        upgraded = runner.invoke(main, ["db", "upgrade"], env=env)
        assert upgraded.exit_code == 0, upgraded.output
        status = runner.invoke(main, ["db", "status"], env=env)
        current, newest = (line.split()[-1] for line in status.output.splitlines()[:2])
        assert current == newest

    def test_serve_refuses_an_unmigrated_database(self, tmp_path: Path) -> None:
        env = {"PARTNERCENTER_DATA_DIR": str(tmp_path / "empty")}
        result = CliRunner().invoke(main, ["serve", "--port", "1"], env=env)
        assert result.exit_code == 1
        assert "partnercenter db upgrade" in result.output

    def test_every_command_has_help(self) -> None:
        runner = CliRunner()
        for command in [
            [],
            ["serve"],
            ["worker"],
            ["demo"],
            ["seed-demo"],
            ["db", "upgrade"],
            ["create-admin"],
            ["orgs", "list"],
            ["orgs", "create-partner"],
            ["credentials", "create"],
            ["settings"],
        ]:
            result = runner.invoke(main, [*command, "--help"])
            assert result.exit_code == 0, command
            assert "Usage:" in result.output
