"""The ``partnercenter`` command, for operators and scripts."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from partnercenter.core import logging as pc_logging
from partnercenter.core.actor import SYSTEM, Actor
from partnercenter.core.db import make_engine, make_session_factory, unit_of_work
from partnercenter.core.errors import DomainError, NotMigrated
from partnercenter.core.i18n import translator
from partnercenter.core.migrate import (
    current_revision,
    head_revision,
    require_migrated,
    upgrade,
)
from partnercenter.core.settings import Settings, load_settings

SETTINGS_HELP = (
    "Settings come from PARTNERCENTER_* environment variables (and the file named by "
    "PARTNERCENTER_CONFIG_FILE); `partnercenter settings` lists them."
)


class Context:
    def __init__(self) -> None:
        self.settings = load_settings()
        pc_logging.configure(self.settings.resolved_log_format, self.settings.log_level)

    def factory(self, *, migrated: bool = True) -> tuple[Engine, sessionmaker[Session]]:
        engine = make_engine(self.settings.resolved_database_url)
        click.get_current_context().call_on_close(engine.dispose)
        if migrated:
            try:
                require_migrated(engine)
            except NotMigrated as error:
                raise click.ClickException(str(error)) from error
        return engine, make_session_factory(engine)


pass_context = click.make_pass_decorator(Context, ensure=True)


@click.group(
    help=f"Partner Center: console, BSS-compatible API and native API.\n\n{SETTINGS_HELP}"
)
def main() -> None:
    pass


def _fail(error: DomainError) -> click.ClickException:
    tr = translator("en")
    lines = [error.render(tr)] + [
        f"  {p.field}: {p.render(tr)}" for p in error.problems
    ]
    return click.ClickException("\n".join(lines))


@main.command()
@pass_context
def settings(ctx: Context) -> None:
    """List every setting with its help and current value (secrets masked)."""
    for name, description, value in ctx.settings.described():
        click.echo(f"{name}\n    {description}\n    current: {value}\n")


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@pass_context
def db_upgrade(ctx: Context) -> None:
    """Migrate the database to the newest schema (creates a SQLite file if needed)."""
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(ctx.settings.resolved_database_url)
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}")
    engine.dispose()


@db.command("status")
@pass_context
def db_status(ctx: Context) -> None:
    """Show the database's schema revision and the newest one."""
    engine = make_engine(ctx.settings.resolved_database_url)
    click.echo(f"current: {current_revision(engine)}\nnewest:  {head_revision()}")
    engine.dispose()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", default=1, show_default=True, type=int, help="Server processes."
)
@pass_context
def serve(ctx: Context, host: str, port: int, workers: int) -> None:
    """Serve the console and the APIs."""
    _serve(ctx.settings, host, port, workers)


def _serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    engine = make_engine(settings.resolved_database_url)
    try:
        require_migrated(engine)
    except NotMigrated as error:
        raise click.ClickException(str(error)) from error
    finally:
        engine.dispose()
    uvicorn.run(
        "partnercenter.app:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
    )


@main.command()
@click.option("--once", is_flag=True, help="Do one pass and exit.")
@click.option(
    "--interval", default=2.0, show_default=True, help="Seconds between passes."
)
@pass_context
def worker(ctx: Context, once: bool, interval: float) -> None:
    """Run timers, deadlines and outbox delivery (email) beside the servers."""
    from partnercenter import worker as worker_module

    _engine, factory = ctx.factory()
    if once:
        click.echo(f"done: {worker_module.run_once(factory, ctx.settings)}")
        return
    stop = threading.Event()
    worker_module.install_signal_handlers(stop)
    worker_module.run_forever(factory, ctx.settings, stop=stop, interval=interval)


def _seed(ctx: Context) -> None:
    from partnercenter import demo

    _engine, factory = ctx.factory()
    try:
        with unit_of_work(factory) as session:
            logins = demo.seed(session)
    except RuntimeError as error:
        click.echo(f"demo data not added: {error}", err=True)
        return
    click.echo(f"Demo logins (password for all: {demo.DEMO_PASSWORD}):")
    for login in logins:
        click.echo(f"  {login.account_name:<18} {login.role:<36} {login.organisation}")


@main.command("seed-demo")
@pass_context
def seed_demo(ctx: Context) -> None:
    """Add the demo channel (vendor, partners, members, customers) to an empty database."""
    _seed(ctx)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@pass_context
def demo(ctx: Context, host: str, port: int) -> None:
    """Migrate, add the demo data if the database is empty, and serve."""
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(ctx.settings.resolved_database_url)
    upgrade(engine)
    engine.dispose()
    _seed(ctx)
    click.echo(
        f"\nConsole: http://{host}:{port}/  (demo mailbox: http://{host}:{port}/mailbox)"
    )
    click.echo(f"Data folder: {ctx.settings.data_dir}\n")
    _serve(ctx.settings, host, port)


@main.command("create-admin")
@click.option("--account-name", required=True, help="Login name of the vendor admin.")
@click.option("--email", required=True)
@click.option("--name", "display_name", default="Vendor admin", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option(
    "--vendor-name",
    default="Cloud vendor",
    show_default=True,
    help="Display name of the vendor organisation, if it does not exist yet.",
)
@click.option("--vendor-account", default="cloud-vendor", show_default=True)
@pass_context
def create_admin(
    ctx: Context,
    *,
    account_name: str,
    email: str,
    display_name: str,
    password: str,
    vendor_name: str,
    vendor_account: str,
) -> None:
    """Create a vendor admin (and the vendor organisation on first use)."""
    from partnercenter.identity import service as identity
    from partnercenter.identity.models import AccountType, OrganisationKind

    _engine, factory = ctx.factory()
    try:
        with unit_of_work(factory) as session:
            user = identity.create_user(
                session,
                account_name=account_name,
                display_name=display_name,
                password=password,
                email=email,
                account_type=AccountType.ENTERPRISE,
            )
            try:
                vendor = identity.vendor_organisation(session)
            except DomainError:
                vendor = identity.create_organisation(
                    session,
                    SYSTEM,
                    kind=OrganisationKind.VENDOR,
                    account_name=vendor_account,
                    display_name=vendor_name,
                    main_user=user,
                )
            identity.add_membership(session, user, vendor, roles=["vendor_admin"])
    except DomainError as error:
        raise _fail(error) from error
    click.echo(f"vendor admin {account_name} created for {vendor.display_name}")


@main.group()
def orgs() -> None:
    """Organisations."""


@orgs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
def orgs_list(ctx: Context, as_json: bool) -> None:
    """List organisations: id, kind, account name and parent (a reseller's distributor)."""
    from partnercenter.identity import service as identity

    _engine, factory = ctx.factory()
    with factory() as session:
        rows = [
            {
                "id": org.id,
                "kind": org.public_kind,
                "account_name": org.account_name,
                "parent_id": org.parent_id,
            }
            for org in identity.list_organisations(session)
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['kind']:<18} {row['account_name']}")


def _vendor_operator(session: Session) -> Actor:
    """The CLI acts as the vendor admin: whoever runs it has the server's keys anyway."""
    from partnercenter.identity import service as identity
    from partnercenter.identity.permissions import PRESET_ROLES

    try:
        vendor = identity.vendor_organisation(session)
    except DomainError as error:
        raise click.ClickException(
            "no vendor organisation yet: run `partnercenter create-admin` first"
        ) from error
    return Actor(
        organisation_id=vendor.id,
        organisation_kind="vendor",
        permissions=PRESET_ROLES["vendor_admin"].permissions,
    )


def _organisation_id(session: Session, account_name: str) -> str:
    from sqlalchemy import func, select

    from partnercenter.identity.models import Organisation

    found = session.scalar(
        select(Organisation.id).where(
            func.lower(Organisation.account_name) == account_name.lower()
        )
    )
    if found is None:
        raise click.ClickException(
            f"no organisation with account name {account_name!r}"
        )
    return found


PARTNER_TYPES = click.Choice(["solution_provider", "distributor", "reseller"])


@orgs.command("create-partner")
@click.option(
    "--account-name",
    required=True,
    help="Account name of the partner and its main account.",
)
@click.option(
    "--name", "display_name", required=True, help="Company name shown in the console."
)
@click.option("--type", "partner_type", required=True, type=PARTNER_TYPES)
@click.option(
    "--region", required=True, help="Business region, an ISO code such as CN."
)
@click.option(
    "--distributor", default="", help="Account name of a reseller's distributor."
)
@click.option(
    "--email",
    required=True,
    help="The main account's email; a password link goes there.",
)
@click.option(
    "--legal-name", default="", help="Legal entity name (defaults to the company name)."
)
@click.option(
    "--registration-number", required=True, help="Business registration number."
)
@click.option(
    "--contact-name", default="", help="Contact person (defaults to the company name)."
)
@click.option(
    "--contact-email", default="", help="Contact email (defaults to --email)."
)
@click.option("--contact-phone", default="")
@pass_context
def orgs_create_partner(
    ctx: Context,
    *,
    account_name: str,
    display_name: str,
    partner_type: str,
    region: str,
    distributor: str,
    email: str,
    legal_name: str,
    registration_number: str,
    contact_name: str,
    contact_email: str,
    contact_phone: str,
) -> None:
    """Register a partner with its main account (which receives a password link by email)."""
    from partnercenter.admin import service as admin

    _engine, factory = ctx.factory()
    try:
        with unit_of_work(factory) as session:
            partner = admin.create_partner(
                session,
                _vendor_operator(session),
                ctx.settings,
                admin.NewPartner(
                    display_name=display_name,
                    account_name=account_name,
                    partner_type=partner_type,
                    country_region=region,
                    distributor_id=_organisation_id(session, distributor)
                    if distributor
                    else "",
                    legal_name=legal_name or display_name,
                    registration_number=registration_number,
                    contact_name=contact_name or display_name,
                    contact_email=contact_email or email,
                    contact_phone=contact_phone,
                    email=email,
                ),
            )
            created = {"id": partner.id, "kind": partner.public_kind}
    except DomainError as error:
        raise _fail(error) from error
    click.echo(json.dumps(created))


@orgs.command("update")
@click.argument("account_name")
@click.option("--type", "partner_type", type=PARTNER_TYPES, help="New partner type.")
@click.option("--region", help="New business region (ISO code).")
@click.option("--distributor", help="Account name of the reseller's new distributor.")
@click.option("--name", "display_name", help="New company name.")
@pass_context
def orgs_update(
    ctx: Context,
    account_name: str,
    *,
    partner_type: str | None,
    region: str | None,
    distributor: str | None,
    display_name: str | None,
) -> None:
    """Change a partner's type, business region, distributor or name."""
    from partnercenter.admin import service as admin
    from partnercenter.identity import service as identity

    _engine, factory = ctx.factory()
    try:
        with unit_of_work(factory) as session:
            partner = identity.get_organisation(
                session, _organisation_id(session, account_name)
            )
            if distributor is not None:
                distributor_id = (
                    _organisation_id(session, distributor) if distributor else ""
                )
            else:
                distributor_id = partner.parent_id or ""
            changed = admin.update_partner(
                session,
                _vendor_operator(session),
                partner.id,
                admin.PartnerChange(
                    display_name=display_name or partner.display_name,
                    partner_type=partner_type or partner.public_kind,
                    country_region=region or partner.country_region or "",
                    distributor_id=distributor_id,
                ),
            )
    except DomainError as error:
        raise _fail(error) from error
    click.echo("updated" if changed else "nothing to change")


@main.group()
def calendar() -> None:
    """The working-day calendar (mainland China's official schedule)."""


@calendar.command("due")
@click.argument("start", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.argument("count", type=click.IntRange(min=0))
@pass_context
def calendar_due(ctx: Context, start: dt.datetime, count: int) -> None:
    """Print the date COUNT working days after START (START not counted; it may be a day
    off), followed by "provisional" when a year without an official schedule was used."""
    from partnercenter.core import calendar as working_days

    _engine, factory = ctx.factory()
    with factory() as session:
        due = working_days.working_days_after(session, start.date(), count)
    click.echo(f"{due.day.isoformat()}{' provisional' if due.provisional else ''}")


@main.group()
def ledger() -> None:
    """The ledger of balances and transfers."""


@ledger.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def ledger_verify(ctx: Context, as_json: bool) -> None:
    """Check that every transfer sums to zero, every account's entries chain and add up to
    its balance, and no money was created or lost; exit 1 when a check fails."""
    from partnercenter.core.money import to_decimal
    from partnercenter.ledger.verify import verify

    _engine, factory = ctx.factory()
    with factory() as session:
        report = verify(session)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "clean": report.clean,
                    "transfers": report.transfers,
                    "entries": report.entries,
                    "accounts": report.accounts,
                    "held": str(to_decimal(report.held)),
                    "inflow": str(to_decimal(report.inflow)),
                    "problems": [
                        {"check": p.check, "subject": p.subject, "detail": p.detail}
                        for p in report.problems
                    ],
                }
            )
        )
    else:
        click.echo(
            f"{report.transfers} transfers, {report.entries} entries, "
            f"{report.accounts} accounts checked; partners and customers hold "
            f"{to_decimal(report.held)}, in less out is {to_decimal(report.inflow)}."
        )
        for problem in report.problems:
            click.echo(f"PROBLEM {problem}")
        click.echo(
            "Ledger clean." if report.clean else f"{len(report.problems)} problems."
        )
    if not report.clean:
        raise SystemExit(1)


@main.group()
def credentials() -> None:
    """API credentials (AK/SK)."""


@credentials.command("create")
@click.option(
    "--org", "account_name", required=True, help="Account name of the organisation."
)
@click.option(
    "--description", default="created from the command line", show_default=True
)
@pass_context
def credentials_create(ctx: Context, account_name: str, description: str) -> None:
    """Issue an AK/SK pair; prints only {"ak", "sk", "domain_id"} as JSON."""
    from sqlalchemy import func, select

    from partnercenter.core.security import SecretBox
    from partnercenter.identity import credentials as credential_service
    from partnercenter.identity.models import Organisation

    _engine, factory = ctx.factory()
    with unit_of_work(factory) as session:
        organisation = session.scalar(
            select(Organisation).where(
                func.lower(Organisation.account_name) == account_name.lower()
            )
        )
        if organisation is None:
            raise click.ClickException(
                f"no organisation with account name {account_name!r}"
            )
        issued = credential_service.create(
            session,
            SecretBox(ctx.settings.resolved_secret_key),
            SYSTEM,
            organisation,
            description=description,
        )
        output = {
            "ak": issued.credential.access_key,
            "sk": issued.secret_key,
            "domain_id": organisation.id,
        }
    sys.stdout.write(json.dumps(output) + "\n")
