"""Work incidents: a worker's accident, commuting accident or occupational disease at an employer,
recorded, then accepted or rejected (decision 0322).

An incident is recorded for a worker the employer had enrolled on the incident's date (a member of
one of the employer's policies covered that day), dated on or before the day it is reported, which is
not in the future. It is ``reported`` until someone accepts it or rejects it (with a reason); a
decision is final (409 for a second one). An incident reported more than the scheme's
``insurance.incident_report_days`` setting after it happened is recorded and shown as reported late
(:func:`reported_late`), for the reviewer to weigh. Claims under a product that ``requires_incident`` must
reference an accepted incident of the same worker dated on or before the claim (the claims checks
read :func:`accepted_incident`).

The place and description are about a person's health: the audit log records the incident's ids,
dates, kind and status, and only the names of the free-text fields that changed. A location-restricted
principal reaches the incidents of employers of its area.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound
from schemehost.tenants.core.models import Setting
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.insurance.models import (NAME_LENGTH, Employer, IncidentKind, IncidentStatus, Policy,
                                                 PolicyMember, WorkIncident)
from schemehost.tenants.insurance.services import _clean as c
from schemehost.tenants.insurance.services.employers import get_employer
from schemehost.tenants.registry.services import people as reg_people

ENTITY = "work_incident"
DESCRIPTION_LENGTH = 2000
NOTE_LENGTH = 500


def get_incident(session: Session, incident_id: Any, *, principal: Principal | None,
                 lock: bool = False) -> WorkIncident:
    """The incident with this id, of an employer within the principal's area (404 otherwise)."""
    found = None
    if isinstance(incident_id, int) and not isinstance(incident_id, bool) and 0 < incident_id < 2**63:
        stmt = (select(WorkIncident).join(Employer, Employer.id == WorkIncident.employer_id)
                .where(WorkIncident.id == incident_id))
        if principal is not None:
            stmt = restrict_to_locations(stmt, principal, Employer.location_id)
        if lock:
            stmt = stmt.with_for_update(of=WorkIncident)
        found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No work incident with id %(id)s.", id=incident_id),
                       errors={"incident_id": [_("unknown work incident")]})
    return found


def list_incidents(session: Session, *, principal: Principal | None, employer_id: int | None = None,
                   individual_id: int | None = None, status: str | None = None, after_id: int | None = None,
                   limit: int = 100) -> list[WorkIncident]:
    """Incidents of employers of the principal's area, newest first by id (keyset on ``after_id``:
    ids below it)."""
    stmt = (select(WorkIncident).join(Employer, Employer.id == WorkIncident.employer_id)
            .order_by(WorkIncident.id.desc()).limit(limit))
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, Employer.location_id)
    if employer_id is not None:
        stmt = stmt.where(WorkIncident.employer_id == employer_id)
    if individual_id is not None:
        stmt = stmt.where(WorkIncident.individual_id == individual_id)
    if status:
        stmt = stmt.where(WorkIncident.status == status)
    if after_id is not None:
        stmt = stmt.where(WorkIncident.id < after_id)
    return list(session.execute(stmt).scalars())


def report_days(session: Session) -> int | None:
    """The scheme's limit for reporting an incident, in days (setting ``insurance.incident_report_days``)."""
    value = session.execute(select(Setting.value).where(Setting.key == "insurance")).scalar_one_or_none()
    days = value.get("incident_report_days") if isinstance(value, dict) else None
    return days if isinstance(days, int) and not isinstance(days, bool) and days >= 0 else None


def reported_late(incident: WorkIncident, days: int | None) -> bool:
    """Whether the incident was reported more than ``days`` days after it happened."""
    return days is not None and (incident.reported_on - incident.incident_date).days > days


def accepted_incident(session: Session, incident_id: int, individual_id: int, on: date) -> WorkIncident | None:
    """The accepted incident ``incident_id`` of this worker dated on or before ``on``, or None (what a
    claim under a product that ``requires_incident`` must reference)."""
    return session.execute(select(WorkIncident).where(
        WorkIncident.id == incident_id, WorkIncident.individual_id == individual_id,
        WorkIncident.status == IncidentStatus.accepted, WorkIncident.incident_date <= on)).scalar_one_or_none()


def record_incident(session: Session, *, employer_id: Any, individual_id: Any, incident_date: Any, kind: Any,
                    place: Any, description: Any, reported_on: Any = None, principal: Principal | None,
                    today: date | None = None) -> WorkIncident:
    """Record a reported incident (422 naming every bad field; nothing is saved then)."""
    today = today or date.today()
    p = c.Problems()
    day = c.day(incident_date, p, "incident_date", required=True)
    reported = c.day(reported_on, p, "reported_on") or today
    clean_kind = c.choice(kind, tuple(k.value for k in IncidentKind), p, "kind")
    clean_place = c.text(place, p, "place", limit=NAME_LENGTH)
    clean_description = c.text(description, p, "description", limit=DESCRIPTION_LENGTH)
    if reported > today:
        p.add("reported_on", _("A report cannot be dated in the future."))
    if day is not None and day > reported:
        p.add("incident_date", _("An incident happens on or before the day it is reported."))
    employer = None
    try:
        employer = get_employer(session, employer_id, principal=principal)
    except NotFound:
        p.add("employer_id", _("No employer with id %(id)s.", id=employer_id))
    person = None
    try:
        person = reg_people.get_individual(session, individual_id, principal=None)
    except NotFound:
        p.add("individual_id", _("No individual with id %(id)s.", id=individual_id))
    if employer is not None and person is not None and day is not None and not _worker_on(
            session, employer.id, person.id, day):
        p.add("individual_id", _("This person was not a worker enrolled by %(employer)s on %(day)s.",
                                 employer=employer.name, day=day.isoformat()))
    p.raise_if_any(_("The work incident cannot be recorded."))
    incident = WorkIncident(individual_id=person.id, employer_id=employer.id, incident_date=day, reported_on=reported,
                            kind=clean_kind, place=clean_place, description=clean_description,
                            status=IncidentStatus.reported.value,
                            reported_by=principal.id if principal is not None else None)
    session.add(incident)
    session.flush()
    audit.record(session, "create", ENTITY, incident.id, after=snapshot(incident),
                 details={"reported_late": reported_late(incident, report_days(session))})
    return incident


def decide_incident(session: Session, incident_id: Any, *, accept: bool, note: Any = None,
                    principal: Principal | None, today: date | None = None) -> WorkIncident:
    """Accept or reject a reported incident (a rejection needs its reason); 409 when already decided."""
    today = today or date.today()
    p = c.Problems()
    clean_note = c.text(note, p, "note", limit=NOTE_LENGTH, required=not accept)
    p.raise_if_any(_("The decision cannot be recorded."))
    incident = get_incident(session, incident_id, principal=principal, lock=True)
    if incident.status != IncidentStatus.reported:
        raise Conflict(_("Work incident %(id)s is already %(status)s.", id=incident.id, status=incident.status),
                       errors={"status": [incident.status]})
    before = snapshot(incident)
    incident.status = (IncidentStatus.accepted if accept else IncidentStatus.rejected).value
    incident.decided_on = today
    incident.decided_by = principal.id if principal is not None else None
    incident.decision_note = clean_note
    session.flush()
    audit.record(session, "accept" if accept else "reject", ENTITY, incident.id, before=before,
                 after=snapshot(incident), details={"note_given": clean_note is not None})
    return incident


def _worker_on(session: Session, employer_id: int, individual_id: int, day: date) -> bool:
    return session.execute(select(PolicyMember.policy_id).join(Policy, Policy.id == PolicyMember.policy_id).where(
        Policy.employer_id == employer_id, PolicyMember.individual_id == individual_id,
        Policy.start_date <= day, Policy.expiry_date >= day,
        or_(PolicyMember.covered_from.is_(None), PolicyMember.covered_from <= day),
        or_(PolicyMember.covered_to.is_(None), PolicyMember.covered_to >= day)).limit(1)).first() is not None


def snapshot(incident: WorkIncident) -> dict[str, Any]:
    """What the audit log keeps of an incident: no place, description or note (health information)."""
    out = {f: getattr(incident, f) for f in ("individual_id", "employer_id", "incident_date", "reported_on", "kind",
                                             "status", "decided_on")}
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in out.items()}
