"""Reviewing and applying a newer template version to an existing tenant.

Two sessions take part: the control session (the tenant row and its events)
and the tenant's own session (its settings, under its role). The caller
commits the tenant session first, then the control session: the tenant's
``template`` setting is the record of what was applied, so if the second
commit fails a new ``apply`` finds nothing left to add and only brings the
control row's ``template_version`` up to date.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict
from schemehost.platform.tenancy import TenantSession, open_tenant_session, server_engine
from schemehost.platform.tenants.models import Tenant, TenantStatus
from schemehost.platform.tenants.services import record_event, server_dsn
from schemehost.provisioning.templates import Template, load_template
from schemehost.provisioning.templates.review import (
    Change,
    apply_changes,
    is_up_to_date,
    read_settings,
    recorded_template,
    template_changes,
)

#: Tenants whose schema exists and is in use; others cannot take a template change.
REVIEWABLE = (TenantStatus.active, TenantStatus.read_only, TenantStatus.suspended)


@dataclass(frozen=True)
class Review:
    tenant_version: int | None  # as recorded in the tenant's settings
    template: Template
    changes: list[Change]
    up_to_date: bool

    @property
    def additions(self) -> int:
        return sum(c.applicable for c in self.changes)


def reviewable_tenant(session: Session, slug: str, *, for_update: bool = False) -> Tenant:
    """The control row of a tenant whose template can be reviewed; Conflict otherwise."""
    from schemehost.provisioning.lifecycle import get_tenant

    tenant = get_tenant(session, slug, for_update=for_update)
    if tenant.status not in REVIEWABLE or tenant.role_name is None:
        message = _("Tenant %(slug)s is %(status)s; templates apply to active, read-only or suspended tenants.",
                    slug=slug, status=tenant.status)
        raise Conflict(message, errors={"slug": [message]})
    return tenant


def open_settings_session(session: Session, tenant: Tenant) -> TenantSession:
    """A tenant session (its schema, its role) for reading and writing the tenant's settings."""
    engine = server_engine(server_dsn(tenant.server_id, session))
    return open_tenant_session(engine, tenant.schema_name, tenant.role_name,
                               statement_timeout_ms=current_app.config["TENANT_STATEMENT_TIMEOUT_MS"])


def review_template(tsession: Session, tenant: Tenant) -> Review:
    """What the current version of the tenant's template would add or change (reads only)."""
    template = load_template(tenant.template)
    current = read_settings(tsession)
    return Review(recorded_template(current).get("version"), template,
                  template_changes(current, template), is_up_to_date(current, template))


def apply_template(session: Session, tsession: Session, tenant: Tenant, *, actor: str) -> Review:
    """Apply the template's additions to the tenant, move it to the template's version and
    record a ``template_applied`` event; flushes both sessions, never commits."""
    template = load_template(tenant.template)
    before, changes = apply_changes(tsession, template)
    from_version = tenant.template_version
    if tenant.template_version != template.version or changes:
        tenant.template_version = template.version
        record_event(session, tenant, "template_applied", actor=actor, data={
            "template": template.name,
            "from_version": from_version,
            "to_version": template.version,
            "applied": [c.where + (f" {c.value}" if c.kind != "role_added" else "") for c in changes if c.applicable],
            "not_applied": [c.where for c in changes if not c.applicable],
        })
    session.flush()
    return Review(before, template, changes, True)
