"""Deduplication: exact duplicates are refused, probable ones are flagged for a person to decide.

Exact: one national identifier, one person (a unique index; the people services answer 409 with
``existing_id``). Probable: a similar name (``shared.similarity`` of ``name_search`` at least the
tenant's ``registry.duplicate_name_similarity``, default 0.5), the same birth date, and the same
village or the same phone. :func:`flag_probable_duplicates` flags them set-wise, in one statement,
for one new record or for a whole import batch. A pair is flagged once: a dismissed pair is not
flagged again.

Merging (decision 0107) keeps the record the reviewer chooses as it is, and marks the other
``inactive``: if the kept record has no household, it takes the other's place in its household
(as head if the other was the head); if the kept record has no national id or phone, the other's
move to it. Both records and the flag are audited. Nothing is merged without a person's decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, text
from sqlalchemy.orm import Session, aliased

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.platform.tenancy import quote_ident
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.registry.people import DuplicateFlag, FlagStatus, Household, Individual, PersonStatus
from schemehost.tenants.registry.services.people import snapshot_individual
from schemehost.tenants.registry.validation import registry_settings

FLAG = "duplicate_flag"
INDIVIDUAL = "individual"
DEFAULT_THRESHOLD = 0.5

_FLAG_SQL = """
WITH batch AS (SELECT DISTINCT unnest(CAST(:ids AS bigint[])) AS id),
pairs AS (
    SELECT n.id AS nid, c.id AS cid
    FROM batch b JOIN {s}individuals n ON n.id = b.id
    JOIN {s}individuals c ON c.birth_date = n.birth_date AND c.location_id = n.location_id AND c.id <> n.id
    WHERE n.status = 'active' AND c.status = 'active'
    UNION
    SELECT n.id, c.id
    FROM batch b JOIN {s}individuals n ON n.id = b.id
    JOIN {s}individuals c ON c.birth_date = n.birth_date AND c.phone = n.phone AND c.id <> n.id
    WHERE n.status = 'active' AND c.status = 'active' AND n.phone IS NOT NULL
)
INSERT INTO {s}duplicate_flags (individual_id, candidate_id, reasons, score, status)
SELECT n.id, c.id,
       jsonb_build_object('name_similarity', round(x.sim::numeric, 2),
                          'same', to_jsonb(array_remove(ARRAY['birth_date',
                               CASE WHEN c.location_id = n.location_id THEN 'village' END,
                               CASE WHEN c.phone = n.phone THEN 'phone' END], NULL))),
       x.sim, 'open'
FROM pairs p
JOIN {s}individuals n ON n.id = p.nid
JOIN {s}individuals c ON c.id = p.cid
LEFT JOIN batch bc ON bc.id = p.cid
CROSS JOIN LATERAL (SELECT shared.similarity(c.name_search, n.name_search) AS sim) x
WHERE x.sim >= :threshold
  AND NOT (bc.id IS NOT NULL AND p.cid > p.nid)
  AND NOT EXISTS (SELECT 1 FROM {s}duplicate_flags f WHERE f.individual_id = c.id AND f.candidate_id = n.id)
ON CONFLICT (individual_id, candidate_id) DO NOTHING
"""


def threshold(session: Session) -> float:
    """The tenant's name-similarity threshold for probable duplicates (0–1)."""
    value = registry_settings(session).get("duplicate_name_similarity", DEFAULT_THRESHOLD)
    return float(value) if isinstance(value, (int, float)) and 0 < value <= 1 else DEFAULT_THRESHOLD


def flag_probable_duplicates(session: Session, individual_ids: list[int], *,
                             min_similarity: float | None = None) -> int:
    """Flag probable duplicates of ``individual_ids`` (against every active individual, the batch
    included, each pair once: the later id is ``individual_id``) in one statement; returns how many
    flags were added. Candidates come from two equi-joins, (birth date, village) and (birth date,
    phone), so a batch of a million rows is hash joins, not a comparison of every pair."""
    ids = sorted({int(i) for i in individual_ids})
    if not ids:
        return 0
    schema = session.info.get("tenant_schema")
    prefix = f"{quote_ident(schema)}." if schema else ""  # else: the caller's search_path
    result = session.execute(text(_FLAG_SQL.format(s=prefix)), {"ids": ids, "threshold": min_similarity or threshold(session)})
    return result.rowcount or 0


@dataclass
class FlagView:
    flag: DuplicateFlag
    individual: Individual
    candidate: Individual


def list_flags(session: Session, *, principal: Principal | None, status: str = FlagStatus.open,
               after: int | None = None, limit: int = 50) -> list[FlagView]:
    """The review queue: flags (oldest first) whose two records are both within the principal's area."""
    a, b = aliased(Individual), aliased(Individual)
    stmt = (select(DuplicateFlag, a, b).join(a, a.id == DuplicateFlag.individual_id)
            .join(b, b.id == DuplicateFlag.candidate_id).where(DuplicateFlag.status == status))
    if after is not None:
        stmt = stmt.where(DuplicateFlag.id > after)
    if principal is not None:
        stmt = restrict_to_locations(restrict_to_locations(stmt, principal, a.location_id), principal, b.location_id)
    rows = session.execute(stmt.order_by(DuplicateFlag.id).limit(limit)).all()
    return [FlagView(*row) for row in rows]


def flags_of(session: Session, individual_id: int, *, status: str = FlagStatus.open) -> list[DuplicateFlag]:
    """The flags naming this individual (either side)."""
    return list(session.execute(select(DuplicateFlag).where(
        (DuplicateFlag.individual_id == individual_id) | (DuplicateFlag.candidate_id == individual_id),
        DuplicateFlag.status == status).order_by(DuplicateFlag.id)).scalars())


def get_flag(session: Session, flag_id: Any, *, principal: Principal | None, lock: bool = False) -> FlagView:
    found = None
    if isinstance(flag_id, int) and not isinstance(flag_id, bool) and 0 < flag_id < 2**63:
        a, b = aliased(Individual), aliased(Individual)
        stmt = (select(DuplicateFlag, a, b).join(a, a.id == DuplicateFlag.individual_id)
                .join(b, b.id == DuplicateFlag.candidate_id).where(DuplicateFlag.id == flag_id))
        if principal is not None:
            stmt = restrict_to_locations(restrict_to_locations(stmt, principal, a.location_id), principal,
                                         b.location_id)
        if lock:
            stmt = stmt.with_for_update(of=DuplicateFlag)
        found = session.execute(stmt).first()
    if found is None:
        raise NotFound(_("No duplicate flag with id %(id)s.", id=flag_id), errors={"id": [_("unknown flag")]})
    return FlagView(*found)


def _decide(flag: DuplicateFlag, status: str, principal: Principal | None) -> None:
    if flag.status != FlagStatus.open:
        raise Conflict(_("This flag was already decided (%(status)s).", status=flag.status),
                       errors={"status": [flag.status]})
    flag.status = status
    actor = principal.audit_actor if principal is not None else ("system", None, None)
    flag.decided_by = f"{actor[0]}:{actor[1]}"[:254]
    flag.decided_at = datetime.now(timezone.utc)


def dismiss_flag(session: Session, flag_id: int, *, principal: Principal | None, note: str | None = None) -> DuplicateFlag:
    """The two records are different people: close the flag (the pair is not flagged again)."""
    view = get_flag(session, flag_id, principal=principal, lock=True)
    _decide(view.flag, FlagStatus.dismissed, principal)
    session.flush()
    audit.record(session, "dismiss", FLAG, view.flag.id,
                 after={"status": view.flag.status, "individual_id": view.flag.individual_id,
                        "candidate_id": view.flag.candidate_id},
                 details={"note_given": bool(note)})
    return view.flag


def merge_flag(session: Session, flag_id: int, keep_id: int, *, principal: Principal | None) -> Individual:
    """The two records are one person: keep ``keep_id`` (one of the pair), make the other inactive
    (see the module's docstring for households and identifiers); returns the kept record."""
    view = get_flag(session, flag_id, principal=principal, lock=True)
    pair = {view.individual.id: view.individual, view.candidate.id: view.candidate}
    if keep_id not in pair:
        raise ValidationError(_("Keep one of the two records."), errors={"keep_id": [_("one of %(a)s, %(b)s",
                              a=view.individual.id, b=view.candidate.id)]})
    keep = pair[keep_id]
    drop = pair[next(i for i in pair if i != keep_id)]
    session.refresh(keep, with_for_update=True)
    session.refresh(drop, with_for_update=True)
    if PersonStatus.erased in (keep.status, drop.status):
        raise Conflict(_("An erased record cannot be merged."), errors={"keep_id": [_("erased")]})
    drop_household = session.get(Household, drop.household_id) if drop.household_id else None
    if drop_household is not None and keep.household_id is not None and drop_household.head_id == drop.id \
            and keep.household_id != drop_household.id:
        raise Conflict(_("The record to retire heads household %(id)s while the one to keep lives in another: "
                         "name another head of household %(id)s first.", id=drop_household.id),
                       errors={"keep_id": [_("change the head of household %(id)s first", id=drop_household.id)]})
    _decide(view.flag, FlagStatus.merged, principal)
    keep_before, drop_before = snapshot_individual(keep), snapshot_individual(drop)
    moved: list[str] = []
    if keep.household_id is None and drop_household is not None:
        keep.household_id, keep.relationship = drop.household_id, drop.relationship
        drop.household_id, drop.relationship = None, None
        if drop_household.head_id == drop.id:
            drop_household.head_id = keep.id
        moved.append("household")
    elif drop_household is not None and drop.household_id != keep.household_id:
        drop.household_id, drop.relationship = None, None
    elif drop_household is not None:  # same household: the retired record leaves it
        if drop_household.head_id == drop.id:
            drop_household.head_id = keep.id
            keep.relationship = "head"
        drop.household_id, drop.relationship = None, None
    if keep.national_id is None and drop.national_id is not None:
        nid, drop.national_id = drop.national_id, None
        session.flush()
        keep.national_id = nid
        moved.append("national_id")
    if keep.phone is None and drop.phone is not None:
        keep.phone = drop.phone
        moved.append("phone")
    drop.status = PersonStatus.inactive
    session.flush()
    personal = [m for m in moved if m != "household"]
    audit.record(session, "merge", INDIVIDUAL, keep.id, before=keep_before, after=snapshot_individual(keep),
                 details={"merged_from": drop.id, "flag_id": view.flag.id, "moved": moved,
                          "personal_changed": personal})
    audit.record(session, "merge", INDIVIDUAL, drop.id, before=drop_before, after=snapshot_individual(drop),
                 details={"merged_into": keep.id, "flag_id": view.flag.id,
                          "personal_changed": [m for m in personal if m == "national_id"]})
    audit.record(session, "merge", FLAG, view.flag.id,
                 after={"status": view.flag.status, "kept": keep.id, "retired": drop.id})
    return keep
