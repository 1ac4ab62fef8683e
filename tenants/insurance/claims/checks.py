"""The claims engine: automatic checks of entered claims and valuation of processed ones, set-based.

:func:`check_claims` moves ``entered`` claims to ``checked`` (or ``rejected``) and
:func:`valuate_claims` moves ``processed`` claims to ``valuated``. Each works on any number of claims
with a handful of statements over temporary tables (no loop over claims in Python), writes one
audit entry for the run (counts and input, decision 0120), takes a per-tenant advisory lock so two
runs never interleave, and only flushes: the caller's request or job commits. Both are safe to call
with ids of claims in other statuses: those are left alone and counted as ``skipped``.

The valuation follows :mod:`.valuation` exactly (decision 0315); the tests compare both on random
claims. The checks' rules and their order are in decision 0316 and docs/insurance.md.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from schemehost.platform.tenancy import quote_ident
from schemehost.tenants.identity.audit import record_bulk
from schemehost.tenants.core.services import tenant_zone
from schemehost.tenants.insurance.claims.services import submission_deadline

Actor = tuple[str, str | None, str | None]


def _ids(claim_ids: Iterable[int] | None) -> list[int] | None:
    if claim_ids is None:
        return None
    out = []
    for value in claim_ids:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("claim ids are integers")
        out.append(value)
    return out


#: memory for the sorts and hashes of one run (a transaction's setting): window functions over half a
#: million lines spill to disk under the default 4 MB. JIT is off for the run too: compiling each
#: statement costs about a second, more than it saves here
WORK_MEM = "128MB"


def _lock(session: Session, schema: str) -> None:
    """One engine run at a time per tenant: checks count limits and valuations spend ceilings that
    earlier runs consumed, so two runs must see each other's results. Also sets the run's work_mem."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key)), set_config('work_mem', :mem, true),"
                         " set_config('jit', 'off', true)"),
                    {"key": f"claims-engine:{schema}", "mem": WORK_MEM})


def _note(session: Session, label: str, start: float) -> None:
    timings = session.info.get("claims_timings")
    if isinstance(timings, list):
        timings.append((label, time.perf_counter() - start))


def _run(session: Session, statements: list[str], params: dict[str, Any]) -> None:
    """Execute ``statements`` in order; when ``session.info["claims_timings"]`` is a list (benchmarks),
    append (first words of the statement, seconds) to it."""
    for statement in statements:
        start = time.perf_counter()
        session.execute(text(statement), params)
        _note(session, " ".join(statement.split()[:6]), start)


# ---- checks --------------------------------------------------------------------------------------------

_CHECK_BATCH = """
DROP TABLE IF EXISTS pg_temp.cc_claim, pg_temp.cc_line;
CREATE TEMP TABLE cc_claim ON COMMIT DROP AS
SELECT c.id, c.version, c.individual_id, c.facility_id, c.date_from, c.date_to, c.created_at, c.incident_id,
       p.policy_id, p.product_id, p.effective_date, p.adult_age, p.requires_incident,
       i.sex, i.birth_date,
       CASE WHEN f.status <> 'active' OR f.contract_start > c.date_from OR f.contract_end < c.date_from
            THEN 'facility_unknown'
            WHEN i.status NOT IN ('active', 'deceased') THEN 'insuree_unknown'
            WHEN p.policy_id IS NULL THEN 'not_insured'
            WHEN p.requires_incident AND NOT EXISTS (
                 SELECT 1 FROM {s}.work_incidents w
                  WHERE w.id = c.incident_id AND w.individual_id = c.individual_id
                    AND w.incident_date <= c.date_from AND w.status = 'accepted') THEN 'incident_required'
       END::varchar(30) AS reason
  FROM {s}.claims c
  JOIN {s}.individuals i ON i.id = c.individual_id
  JOIN {s}.health_facilities f ON f.id = c.facility_id
  LEFT JOIN LATERAL (
       SELECT pol.id AS policy_id, pol.product_id, pol.effective_date, pr.adult_age, pr.requires_incident
         FROM {s}.insurance_policy_members m
         JOIN {s}.insurance_policies pol ON pol.id = m.policy_id
         JOIN {s}.insurance_products pr ON pr.id = pol.product_id
        WHERE m.individual_id = c.individual_id
          AND pol.start_date <= c.date_from AND pol.expiry_date >= c.date_from
          AND (m.covered_from IS NULL OR m.covered_from <= c.date_from)
          AND (m.covered_to IS NULL OR m.covered_to >= c.date_from)
          AND pol.status IN ('ready', 'active', 'expired') AND pol.effective_date IS NOT NULL
        ORDER BY pol.effective_date <= c.date_from DESC, pol.start_date DESC, pol.id DESC
        LIMIT 1) p ON true
 WHERE c.status = 'entered' {only};
ANALYZE cc_claim
"""

_CHECK_STEPS = [
    # late (decision 0328): entered, on the tenant's calendar, more than the deadline's days after the
    # visit ended; off when the scheme has no deadline (:deadline_days null)
    """
UPDATE cc_claim SET reason = 'submitted_late'
 WHERE reason IS NULL AND CAST(:deadline_days AS integer) IS NOT NULL
   AND (created_at AT TIME ZONE CAST(:zone AS text))::date
       > coalesce(date_to, date_from) + CAST(:deadline_days AS integer)
""",
    # each line with its list price of the day (facility's list, else a shared one, else the catalogue's
    # default) and the first rule it fails of those that need nothing else
    """
CREATE TEMP TABLE cc_line ON COMMIT DROP AS
SELECT l.id, l.claim_id, l.line_no, l.entry_id, l.quantity, l.price, b.policy_id, b.individual_id, b.facility_id,
       b.date_from, lp.price AS list_price, cov.limit_count, cov.limit_amount,
       CASE WHEN b.reason IS NOT NULL THEN b.reason
            WHEN b.effective_date > b.date_from THEN 'waiting_period'
            WHEN cov.entry_id IS NULL
              OR (e.valid_from IS NOT NULL AND e.valid_from > b.date_from)
              OR (e.valid_to IS NOT NULL AND e.valid_to < b.date_from)
              OR e.patient_sex NOT IN ('any', b.sex)
              OR (e.patient_age <> 'any' AND (e.patient_age = 'adult')
                  <> (extract(year FROM age(b.date_from, b.birth_date)) >= b.adult_age)) THEN 'item_not_covered'
       END::varchar(30) AS reason
  FROM {s}.claim_lines l
  JOIN cc_claim b ON b.id = l.claim_id
  JOIN {s}.catalogue_entries e ON e.id = l.entry_id
  LEFT JOIN {s}.insurance_product_coverage cov ON cov.product_id = b.product_id AND cov.entry_id = l.entry_id
  LEFT JOIN LATERAL (
       SELECT pll.price FROM {s}.price_list_lines pll
         JOIN {s}.price_lists pl ON pl.id = pll.price_list_id
        WHERE pll.entry_id = l.entry_id AND (pl.facility_id = b.facility_id OR pl.facility_id IS NULL)
          AND pl.valid_from <= b.date_from AND (pl.valid_to IS NULL OR pl.valid_to >= b.date_from)
        ORDER BY pl.facility_id IS NULL, pl.valid_from DESC, pl.id DESC
        LIMIT 1) lp0 ON true
 CROSS JOIN LATERAL (SELECT CASE WHEN (e.valid_from IS NULL OR e.valid_from <= b.date_from)
                                  AND (e.valid_to IS NULL OR e.valid_to >= b.date_from)
                                 THEN coalesce(lp0.price, e.unit_price) END AS price) lp
""",
    "ANALYZE cc_line",
    # a line like one earlier in this run, or already claimed: same insuree, facility, first day and entry
    """
UPDATE cc_line x SET reason = 'duplicate'
  FROM (SELECT id, claim_id,
               min(claim_id) OVER (PARTITION BY individual_id, facility_id, date_from, entry_id) AS first_claim
          FROM cc_line WHERE reason IS NULL) d
 WHERE d.id = x.id AND d.claim_id > d.first_claim
""",
    """
UPDATE cc_line x SET reason = 'duplicate'
 WHERE x.reason IS NULL
   AND EXISTS (SELECT 1 FROM {s}.claims oc JOIN {s}.claim_lines ol ON ol.claim_id = oc.id
                WHERE oc.individual_id = x.individual_id AND oc.facility_id = x.facility_id
                  AND oc.date_from = x.date_from AND oc.status IN ('checked', 'processed', 'valuated')
                  AND ol.entry_id = x.entry_id AND ol.status <> 'rejected')
""",
    "UPDATE cc_line SET reason = 'price_above_list' WHERE reason IS NULL AND price > list_price",
    # limits per insuree, entry and policy period: what earlier claims used (the usage view), then this
    # run's lines in (first day, claim, line) order; the first line over a limit is rejected, and so is
    # every later one of the run
    """
WITH keyed AS (
  SELECT DISTINCT policy_id, individual_id, entry_id FROM cc_line
   WHERE reason IS NULL AND (limit_count IS NOT NULL OR limit_amount IS NOT NULL)),
used AS (
  SELECT u.policy_id, u.individual_id, u.entry_id, sum(u.quantity) AS quantity, sum(u.amount) AS amount
    FROM {s}.insurance_usage u JOIN keyed k USING (policy_id, individual_id, entry_id)
   GROUP BY u.policy_id, u.individual_id, u.entry_id),
running AS (
  SELECT x.id, x.limit_count, x.limit_amount,
         coalesce(u.quantity, 0) + sum(x.quantity) OVER w AS quantity,
         coalesce(u.amount, 0) + sum(x.quantity::bigint * x.price) OVER w AS amount
    FROM cc_line x
    LEFT JOIN used u ON u.policy_id = x.policy_id AND u.individual_id = x.individual_id
                    AND u.entry_id = x.entry_id
   WHERE x.reason IS NULL AND (x.limit_count IS NOT NULL OR x.limit_amount IS NOT NULL)
  WINDOW w AS (PARTITION BY x.policy_id, x.individual_id, x.entry_id ORDER BY x.date_from, x.claim_id, x.line_no))
UPDATE cc_line x SET reason = CASE WHEN r.quantity > r.limit_count THEN 'limit_count' ELSE 'limit_amount' END
  FROM running r
 WHERE r.id = x.id AND (r.quantity > r.limit_count OR r.amount > r.limit_amount)
""",
    # a claim none of whose lines passed is rejected, with its own reason or its first line's
    """
UPDATE cc_claim b SET reason = f.first_reason
  FROM (SELECT claim_id, bool_or(reason IS NULL) AS any_passed,
               (array_agg(reason ORDER BY line_no))[1] AS first_reason
          FROM cc_line GROUP BY claim_id) f
 WHERE f.claim_id = b.id AND b.reason IS NULL AND NOT f.any_passed
""",
    """
UPDATE cc_claim b SET reason = 'item_not_covered'
 WHERE b.reason IS NULL AND NOT EXISTS (SELECT 1 FROM cc_line x WHERE x.claim_id = b.id)
""",
]

#: claims and their lines written together; a claim changed since the run read it (its version) is left
#: as it is, lines included, for the next run
_CHECK_CLAIMS = """
WITH moved AS (
  UPDATE {s}.claims c
     SET status = CASE WHEN b.reason IS NULL THEN 'checked' ELSE 'rejected' END,
         rejection_reason = b.reason, policy_id = b.policy_id, product_id = b.product_id,
         checked_at = now(), updated_at = now(), version = c.version + 1
    FROM cc_claim b WHERE b.id = c.id AND c.status = 'entered' AND c.version = b.version
  RETURNING c.id, c.status),
lines AS (
  UPDATE {s}.claim_lines l
     SET status = CASE WHEN x.reason IS NULL THEN 'passed' ELSE 'rejected' END,
         rejection_reason = x.reason, list_price = x.list_price
    FROM cc_line x JOIN moved m ON m.id = x.claim_id
   WHERE x.id = l.id)
SELECT id, status FROM moved
"""

_CHECK_COUNTS = """
SELECT (SELECT count(*) FROM cc_claim) AS batch,
       (SELECT count(*) FILTER (WHERE reason IS NULL) FROM cc_line) AS lines_passed,
       (SELECT count(*) FILTER (WHERE reason IS NOT NULL) FROM cc_line) AS lines_rejected,
       (SELECT coalesce(jsonb_object_agg(reason, n), '{}') FROM
          (SELECT reason, count(*) AS n FROM cc_line WHERE reason IS NOT NULL GROUP BY reason) r) AS line_reasons,
       (SELECT coalesce(jsonb_object_agg(reason, n), '{}') FROM
          (SELECT reason, count(*) AS n FROM cc_claim WHERE reason IS NOT NULL GROUP BY reason) r) AS claim_reasons
"""


def check_claims(session: Session, claim_ids: Iterable[int] | None = None, *, today: date | None = None,
                 actor: Actor | None = None) -> dict[str, Any]:
    """Run the automatic checks on ``entered`` claims (all of them, or those of ``claim_ids``; others
    are skipped) and move each to ``checked`` or ``rejected``.

    For each claim: the policy covering the insuree on ``date_from`` (paid, the insuree a member on
    that day) and its product are set; claim rules (``facility_unknown``, ``insuree_unknown``,
    ``not_insured``, ``incident_required``, then ``submitted_late`` when the scheme has a submission
    deadline) reject the claim and its lines; else each line is
    ``passed`` or ``rejected`` with ``waiting_period``, ``item_not_covered``, ``duplicate``,
    ``price_above_list`` or ``limit_count`` / ``limit_amount`` (its list price of the day is recorded);
    a claim without a passed line is rejected with its first line's reason. ``checked_at`` is set and ``version`` bumped. One audit entry
    for the run. Then the checked claims are offered to review selection.

    ``today`` is accepted for the jobs' and tests' sake (the rules read the claims' own dates and
    the day each was entered).
    A claim changed while the run reads it (another version) is left ``entered``, with its lines, and
    counted as skipped. Flushes only. Returns ``{"checked", "rejected", "skipped", "lines_passed",
    "lines_rejected", "claim_reasons", "line_reasons", "selected"}`` (line counts and reasons: the
    lines the run judged)."""
    ids = _ids(claim_ids)
    session.flush()
    schema = session.info["tenant_schema"]
    s = quote_ident(schema)
    _lock(session, schema)
    params: dict[str, Any] = {} if ids is None else {"ids": ids}
    only = "" if ids is None else "AND c.id = ANY(:ids)"
    params.update(deadline_days=submission_deadline(session), zone=tenant_zone(session))
    _run(session, [st for st in _CHECK_BATCH.format(s=s, only=only).split(";") if st.strip()], params)
    _run(session, [step.format(s=s) for step in _CHECK_STEPS], params)
    start = time.perf_counter()
    rows = session.execute(text(_CHECK_CLAIMS.format(s=s))).all()
    _note(session, "UPDATE claims and lines", start)
    counts = session.execute(text(_CHECK_COUNTS)).mappings().one()
    checked = [r.id for r in rows if r.status == "checked"]
    result: dict[str, Any] = {
        "checked": len(checked), "rejected": len(rows) - len(checked),
        "skipped": (counts["batch"] if ids is None else len(set(ids))) - len(rows),
        "lines_passed": counts["lines_passed"], "lines_rejected": counts["lines_rejected"],
        "claim_reasons": dict(counts["claim_reasons"]), "line_reasons": dict(counts["line_reasons"]),
    }
    record_bulk(session, "claims.check", "claim", actor=actor,
                counts={k: result[k] for k in ("checked", "rejected", "skipped", "lines_passed", "lines_rejected")},
                input_ref={"claims": "all entered" if ids is None else len(set(ids))},
                details={"claim_reasons": result["claim_reasons"], "line_reasons": result["line_reasons"]})
    session.expire_all()  # claims and lines loaded before are stale now
    start = time.perf_counter()
    result["selected"] = _select_for_review(session, checked)
    _note(session, "select_for_review", start)
    session.flush()
    return result


def _select_for_review(session: Session, claim_ids: list[int]) -> Any:
    """Hand the newly checked claims to the review selection of :mod:`.review`, when it exists."""
    if not claim_ids or importlib.util.find_spec("schemehost.tenants.insurance.claims.review") is None:
        return None
    review = importlib.import_module("schemehost.tenants.insurance.claims.review")
    select = getattr(review, "select_for_review", None)
    if select is None:
        return None
    return select(session, claim_ids)  # the ids go as one array parameter: any number of them


# ---- valuation -----------------------------------------------------------------------------------------

#: the care a claim counts in (decision 0315)
_CARE = "CASE WHEN {c}.visit_type = 'in_patient' THEN 'in_patient' ELSE 'out_patient' END"
#: a non-negative numeric rounded half-even to an integer (PostgreSQL's round() goes half away from zero)
_HALF_EVEN = "(CASE WHEN {x} - trunc({x}) = 0.5 THEN trunc({x}) + (trunc({x})::bigint % 2) ELSE round({x}) END)"

_VALUATE_BATCH = """
DROP TABLE IF EXISTS pg_temp.cv_claim, pg_temp.cv_line, pg_temp.cv_prior;
CREATE TEMP TABLE cv_claim ON COMMIT DROP AS
SELECT c.id, c.policy_id, c.individual_id, c.date_from, c.product_id, k.care,
       coalesce(pr.copayment_percent, 0) AS copayment_percent,
       CASE WHEN x.dt > 0 THEN 'treatment' WHEN x.di > 0 THEN 'insuree' WHEN x.dp > 0 THEN 'policy' END AS ded_scope,
       CASE WHEN x.dt > 0 THEN x.dt WHEN x.di > 0 THEN x.di WHEN x.dp > 0 THEN x.dp ELSE 0 END AS ded,
       CASE WHEN x.ct IS NOT NULL THEN greatest(x.ct, 0) END AS ct,
       CASE WHEN x.ci IS NOT NULL THEN greatest(x.ci, 0) END AS ci,
       CASE WHEN x.cp IS NOT NULL THEN greatest(x.cp, 0) END AS cp,
       0::bigint AS net, 0::bigint AS deductible, 0::bigint AS valuated
  FROM {s}.claims c
  LEFT JOIN {s}.insurance_products pr ON pr.id = c.product_id
 CROSS JOIN LATERAL (SELECT """ + _CARE.format(c="c") + """ AS care) k
 CROSS JOIN LATERAL (
       SELECT (pr.cost_sharing ->> ('deductible_treatment_' || k.care))::bigint AS dt,
              (pr.cost_sharing ->> ('deductible_insuree_' || k.care))::bigint AS di,
              (pr.cost_sharing ->> ('deductible_policy_' || k.care))::bigint AS dp,
              (pr.cost_sharing ->> ('ceiling_treatment_' || k.care))::bigint AS ct,
              (pr.cost_sharing ->> ('ceiling_insuree_' || k.care))::bigint AS ci,
              (pr.cost_sharing ->> ('ceiling_policy_' || k.care))::bigint AS cp) x
 WHERE c.status = 'processed' {only};
CREATE TEMP TABLE cv_line ON COMMIT DROP AS
SELECT l.id, l.claim_id, l.line_no, a.amount, cp.copayment, a.amount - cp.copayment AS net
  FROM {s}.claim_lines l
  JOIN cv_claim b ON b.id = l.claim_id
  LEFT JOIN {s}.insurance_product_coverage cov ON cov.product_id = b.product_id AND cov.entry_id = l.entry_id
 CROSS JOIN LATERAL (
       SELECT CASE WHEN l.status IN ('passed', 'approved', 'adjusted')
                   THEN coalesce(l.approved_quantity, l.quantity)::bigint
                        * least(coalesce(l.approved_price, l.price), l.list_price)
                   ELSE 0 END AS amount) a
 CROSS JOIN LATERAL (
       SELECT a.amount * least(100, greatest(0, coalesce(cov.copayment_percent, b.copayment_percent))) / 100 AS x) r
 CROSS JOIN LATERAL (SELECT """ + _HALF_EVEN.format(x="r.x") + """::bigint AS copayment) cp;
CREATE TEMP TABLE cv_prior ON COMMIT DROP AS
SELECT c.policy_id, c.individual_id, """ + _CARE.format(c="c") + """ AS care,
       coalesce(sum(l.deductible), 0) AS deductible, coalesce(sum(l.valuated), 0) AS valuated
  FROM {s}.claims c JOIN {s}.claim_lines l ON l.claim_id = c.id
 WHERE c.status = 'valuated' AND c.policy_id IN (SELECT policy_id FROM cv_claim)
 GROUP BY 1, 2, 3;
ANALYZE cv_claim;
ANALYZE cv_line
"""

_VALUATE_STEPS = [
    "UPDATE cv_claim b SET net = t.net FROM (SELECT claim_id, sum(net) AS net FROM cv_line GROUP BY claim_id) t "
    "WHERE t.claim_id = b.id",
    # the deductible: from a budget R, the k-th claim (in date order) takes min(R, S_k) - min(R, S_k-1),
    # S being the running sum of what the claims could give (decision 0315)
    """
WITH prior_policy AS (
  SELECT policy_id, care, sum(deductible) AS deductible, sum(valuated) AS valuated FROM cv_prior GROUP BY 1, 2),
budgets AS (
  SELECT b.id, b.net, b.ded_scope, b.ded,
         greatest(b.ded - coalesce(pi.deductible, 0), 0) AS room_insuree,
         greatest(b.ded - coalesce(pp.deductible, 0), 0) AS room_policy,
         sum(b.net) OVER (PARTITION BY coalesce(b.policy_id, -b.id), b.individual_id, b.care
                          ORDER BY b.date_from, b.id) AS run_insuree,
         sum(b.net) OVER (PARTITION BY coalesce(b.policy_id, -b.id), b.care ORDER BY b.date_from, b.id) AS run_policy
    FROM cv_claim b
    LEFT JOIN cv_prior pi ON pi.policy_id = b.policy_id AND pi.individual_id = b.individual_id AND pi.care = b.care
    LEFT JOIN prior_policy pp ON pp.policy_id = b.policy_id AND pp.care = b.care)
UPDATE cv_claim b SET deductible = CASE x.ded_scope
         WHEN 'treatment' THEN least(x.net, x.ded)
         WHEN 'insuree' THEN least(x.room_insuree, x.run_insuree) - least(x.room_insuree, x.run_insuree - x.net)
         WHEN 'policy' THEN least(x.room_policy, x.run_policy) - least(x.room_policy, x.run_policy - x.net)
         ELSE 0 END
  FROM budgets x WHERE x.id = b.id
""",
    # the ceilings: the treatment's on each claim, then the insuree's budget, then the policy's on what is left
    """
WITH prior_policy AS (
  SELECT policy_id, care, sum(valuated) AS valuated FROM cv_prior GROUP BY 1, 2),
asked AS (
  SELECT b.id, b.policy_id, b.individual_id, b.care, b.date_from, b.ci, b.cp,
         least(b.net - b.deductible, coalesce(b.ct, b.net - b.deductible)) AS asked,
         greatest(b.ci - coalesce(pi.valuated, 0), 0) AS room_insuree,
         greatest(b.cp - coalesce(pp.valuated, 0), 0) AS room_policy
    FROM cv_claim b
    LEFT JOIN cv_prior pi ON pi.policy_id = b.policy_id AND pi.individual_id = b.individual_id AND pi.care = b.care
    LEFT JOIN prior_policy pp ON pp.policy_id = b.policy_id AND pp.care = b.care),
insuree AS (
  SELECT a.*, CASE WHEN a.ci IS NULL THEN a.asked
                   ELSE least(a.room_insuree, a.run) - least(a.room_insuree, a.run - a.asked) END AS granted
    FROM (SELECT a.*, sum(a.asked) OVER (PARTITION BY coalesce(a.policy_id, -a.id), a.individual_id, a.care
                                         ORDER BY a.date_from, a.id) AS run FROM asked a) a),
policy AS (
  SELECT i.id, CASE WHEN i.cp IS NULL THEN i.granted
                    ELSE least(i.room_policy, i.run) - least(i.room_policy, i.run - i.granted) END AS granted
    FROM (SELECT i.id, i.cp, i.room_policy, i.granted,
                 sum(i.granted) OVER (PARTITION BY coalesce(i.policy_id, -i.id), i.care
                                      ORDER BY i.date_from, i.id) AS run FROM insuree i) i)
UPDATE cv_claim b SET valuated = p.granted FROM policy p WHERE p.id = b.id
""",
    # each line's share, in line order: first of the deductible, then of the valuated total
    """
WITH lines AS (
  SELECT l.id, l.claim_id, l.line_no, l.net, l.copayment, b.deductible AS due, b.valuated AS total,
         sum(l.net) OVER (PARTITION BY l.claim_id ORDER BY l.line_no) AS run
    FROM cv_line l JOIN cv_claim b ON b.id = l.claim_id),
ded AS (
  SELECT x.*, least(x.due, x.run) - least(x.due, x.run - x.net) AS deductible FROM lines x),
paid AS (
  SELECT d.*, sum(d.net - d.deductible) OVER (PARTITION BY d.claim_id ORDER BY d.line_no) AS paid_run FROM ded d)
UPDATE {s}.claim_lines l
   SET copayment = p.copayment, deductible = p.deductible,
       valuated = least(p.total, p.paid_run) - least(p.total, p.paid_run - (p.net - p.deductible))
  FROM paid p WHERE p.id = l.id
""",
]

_VALUATE_CLAIMS = """
UPDATE {s}.claims c
   SET status = 'valuated', valuated = b.valuated, valuated_at = now(), updated_at = now(), version = c.version + 1
  FROM cv_claim b WHERE b.id = c.id AND c.status = 'processed'
RETURNING c.id, c.valuated
"""


def valuate_claims(session: Session, claim_ids: Iterable[int] | None = None, *,
                   actor: Actor | None = None) -> dict[str, Any]:
    """Value ``processed`` claims (all of them, or those of ``claim_ids``; others are skipped) and move
    them to ``valuated``, exactly as :func:`.valuation.valuate_claim` would one by one in
    (``date_from``, id) order, each claim seeing what earlier valuated claims of its policy used.

    Lines the review kept (``passed``, ``approved``, ``adjusted``) are priced from their approved
    quantity and price (else the claimed ones) capped by the list price recorded by the checks; each
    line gets ``copayment``, ``deductible`` and ``valuated`` (0 for rejected lines), the claim its
    ``valuated`` total, ``valuated_at`` and a new ``version``. One audit entry for the run. Flushes
    only. Returns ``{"valuated", "skipped", "total"}`` (total: the sum valuated, minor units)."""
    ids = _ids(claim_ids)
    session.flush()
    schema = session.info["tenant_schema"]
    s = quote_ident(schema)
    _lock(session, schema)
    params: dict[str, Any] = {} if ids is None else {"ids": ids}
    only = "" if ids is None else "AND c.id = ANY(:ids)"
    _run(session, [st for st in _VALUATE_BATCH.format(s=s, only=only).split(";") if st.strip()], params)
    _run(session, [step.format(s=s) for step in _VALUATE_STEPS], params)
    start = time.perf_counter()
    rows = session.execute(text(_VALUATE_CLAIMS.format(s=s))).all()
    _note(session, "UPDATE claims", start)
    result = {"valuated": len(rows), "skipped": 0 if ids is None else len(set(ids)) - len(rows),
              "total": int(sum(r.valuated for r in rows))}
    record_bulk(session, "claims.valuate", "claim", actor=actor, counts=result,
                input_ref={"claims": "all processed" if ids is None else len(set(ids))})
    session.flush()
    session.expire_all()  # claims and lines loaded before are stale now
    return result
