"""``schemehost operators``: accounts for the console and tokens for the control API."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _

from schemehost.platform.errors import ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.operators import services


@click.group()
def operators() -> None:
    """Operator accounts (console sign-in and API tokens)."""


def _read_password(from_stdin: bool) -> str:
    """The new password: first line of stdin, or typed twice with hidden input."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(_("Password"), hide_input=True, confirmation_prompt=_("Repeat the password"))


@operators.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(services.OPERATOR_ROLES), default="platform_admin",
              show_default=True, help="What the operator may do.")
@click.option("--partner", help="Slug of the partner whose tenants a partner_staff operator manages "
                                "(required for partner_staff, refused for the other roles).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--json", "as_json", is_flag=True, help="Print the operator as JSON.")
@with_appcontext
def create(email: str, role: str, partner: str | None, password_stdin: bool, as_json: bool) -> None:
    """Create operator EMAIL (asks for the password twice unless --password-stdin)."""
    from schemehost.platform.cli import echo_json
    from schemehost.platform.operators.roles import partner_id_for

    # Check the e-mail before asking for a password that would be thrown away.
    email = services.normalize_email(email)
    problem = services.email_problem(email)
    if problem:
        raise ValidationError(_("The operator cannot be created."), errors={"email": [problem]})
    partner_id_for(db.session, role, partner)  # a wrong partner is reported before the password is asked
    password = _read_password(password_stdin)
    operator = services.create_operator(db.session, email, password=password, role=role, partner=partner)
    db.session.commit()
    if as_json:
        echo_json(services.operator_dict(operator))
    else:
        click.echo(_("operator %(email)s created (%(role)s)", email=operator.email, role=operator.role))


@operators.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the operators as JSON.")
@with_appcontext
def list_(as_json: bool) -> None:
    """List operators."""
    from schemehost.platform.cli import echo_json

    rows = [services.operator_dict(o) for o in services.list_operators(db.session)]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        state = "" if r["is_active"] else _("(inactive)")
        click.echo(f"{r['email']:<40} {r['role']:<16} {state}".rstrip())


@operators.command("token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="A label to recognise the token by.")
@with_appcontext
def token(email: str, name: str) -> None:
    """Issue a new API token for EMAIL and print it once (it is stored only as a hash)."""
    operator = services.get_operator(db.session, email)
    value = services.issue_token(db.session, operator, name)
    db.session.commit()
    click.echo(value)
    click.echo(_("Keep this token secret: it is shown only once. Send it as "
                 "'Authorization: Bearer <token>'."), err=True)


@operators.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@with_appcontext
def password(email: str, password_stdin: bool) -> None:
    """Set a new password for EMAIL; signs the operator out everywhere."""
    operator = services.get_operator(db.session, email)
    services.set_password(db.session, operator, _read_password(password_stdin))
    db.session.commit()
    click.echo(_("password of %(email)s changed; its console sessions are signed out", email=operator.email))


@operators.command("sign-out")
@click.argument("email")
@with_appcontext
def sign_out(email: str) -> None:
    """Sign EMAIL out of every console session."""
    operator = services.get_operator(db.session, email)
    services.sign_out_everywhere(db.session, operator)
    db.session.commit()
    click.echo(_("%(email)s is signed out everywhere", email=operator.email))


@operators.command("reset-mfa")
@click.argument("email")
@with_appcontext
def reset_mfa(email: str) -> None:
    """Clear EMAIL's second factor (lost phone and recovery codes): the operator sets up a new
    authenticator app at its next sign-in. Signs the operator out everywhere."""
    from schemehost.platform import mfa
    from schemehost.platform.audit import record_operator

    operator = services.get_operator(db.session, email)
    had = mfa.reset(db.session, mfa.OPERATORS, operator)
    record_operator(db.session, "operator.mfa_reset", target_type="operator", target_id=operator.id,
                    details={"had_second_factor": had})
    db.session.commit()
    click.echo(_("second factor of %(email)s cleared; it sets up a new one at its next sign-in, and its "
                 "console sessions are signed out", email=operator.email))
