"""The claims engine in the database: the automatic checks (every rule, claims of one run seeing each
other, the audit entry) and the set-based valuation, checked against the pure function on random
products and claims (hypothesis)."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update

from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.insurance.claims.checks import check_claims, valuate_claims
from schemehost.tenants.insurance.claims.models import ClaimLine, InsuranceClaim
from schemehost.tenants.insurance.claims.valuation import Line, Used, care_of, valuate_claim
from schemehost.tenants.insurance.models import (Employer, InsuranceProduct, Policy, PolicyMember, ProductCoverage,
                                                 WorkIncident)
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.people import Individual

from .conftest import build_scheme

START = date(2027, 1, 1)


class World:
    """A module's tenant: a facility, a shared price list, households and their member ids."""

    def __init__(self, scheme, facility_id: int, closed_id: int, families: list[list[int]], sexes: dict[int, str]):
        self.scheme, self.facility_id, self.closed_id = scheme, facility_id, closed_id
        self.families, self.sexes = families, sexes
        self.entries = scheme.entries


@pytest.fixture(scope="module")
def world(make_module_tenant):
    scheme = build_scheme(make_module_tenant("health-insurance"))
    families, sexes = [], {}
    for _ in range(6):  # the last two are the CLI and concurrency tests' (which commit)
        _hh, members, _numbers = scheme.household("1980-01-01", "1982-05-05", sexes=("male", "female"))
        families.append(members)
        sexes.update(zip(members, ("male", "female")))
    with scheme.tenant.session() as s:
        hf = reg.create_facility(s, code="HF1", name="Health centre", level="health_centre", care_type="both",
                                 location_id=scheme.village_id).id
        closed = reg.create_facility(s, code="HF2", name="Closed dispensary", level="dispensary",
                                     care_type="both", location_id=scheme.village_id, status="inactive").id
        plist = reg.create_price_list(s, code="NAT", name="National tariff", valid_from=date(2020, 1, 1))
        for code, price in (("CONS", 10_000), ("PARA", 500), ("DELIV", 50_000)):
            reg.set_price(s, plist.id, code, price)
    return World(scheme, hf, closed, families, sexes)


def _product(s, world, *, code: str, copayment: str = "10", cost_sharing: dict | None = None,
             requires_incident: bool = False, coverage: dict | None = None) -> int:
    product = InsuranceProduct(code=code, name=f"Product {code}", currency="TZS", valid_from=date(2020, 1, 1),
                               insurance_period_months=12, copayment_percent=Decimal(copayment),
                               cost_sharing=cost_sharing or {}, requires_incident=requires_incident)
    s.add(product)
    s.flush()
    if coverage is None:
        coverage = {"CONS": {"limit_count": 2}, "PARA": {"limit_amount": 5_000}, "DELIV": {}}
    for entry, limits in coverage.items():
        s.add(ProductCoverage(product_id=product.id, entry_id=world.entries[entry], **limits))
    s.flush()
    return product.id


def _policy(s, world, product_id: int, family: int, *, effective: date = START + timedelta(days=30),
            status: str = "active") -> int:
    members = world.families[family]
    household = s.execute(select(Individual.household_id).where(Individual.id == members[0])).scalar_one()
    policy = Policy(product_id=product_id, household_id=household, stage="new", status=status, enrol_date=START,
                    start_date=START, expiry_date=date(2027, 12, 31),
                    effective_date=None if status == "idle" else effective, value=1000, currency="TZS",
                    paid=1000, adults=len(members), children=0)
    s.add(policy)
    s.flush()
    for member in members:
        s.add(PolicyMember(policy_id=policy.id, individual_id=member))
    s.flush()
    return policy.id


_codes = iter(range(1, 10**9))


def _claim(s, world, individual: int, day: date, lines: list[tuple], *, facility: int | None = None,
           visit_type: str = "out_patient", status: str = "entered", policy_id=None, product_id=None,
           incident_id=None) -> int:
    """A claim with ``lines`` of (entry code, quantity, price[, status, approved qty, approved price,
    list price])."""
    claim = InsuranceClaim(code=f"C{next(_codes)}", facility_id=facility or world.facility_id,
                           individual_id=individual, visit_type=visit_type, date_from=day, date_claimed=day,
                           icd_code="A09", currency="TZS", claimed=sum(q * p for _c, q, p, *_ in lines),
                           status=status, policy_id=policy_id, product_id=product_id, incident_id=incident_id)
    s.add(claim)
    s.flush()
    for no, (code, qty, price, *rest) in enumerate(lines, start=1):
        line_status, approved_q, approved_p, list_price = (rest + [None] * 4)[:4]
        s.add(ClaimLine(claim_id=claim.id, line_no=no, entry_id=world.entries[code], quantity=qty, price=price,
                        status=line_status or "entered", approved_quantity=approved_q, approved_price=approved_p,
                        list_price=list_price))
    s.flush()
    return claim.id


def _lines(s, claim_id: int) -> list[tuple]:
    return [tuple(r) for r in s.execute(
        select(ClaimLine.status, ClaimLine.rejection_reason, ClaimLine.list_price)
        .where(ClaimLine.claim_id == claim_id).order_by(ClaimLine.line_no))]


def test_checks_pass_reject_and_record_what_they_did(world):
    day = date(2027, 3, 1)
    husband, wife = world.families[0]
    uninsured = world.families[3][0]
    with world.scheme.tenant.session() as s:
        product = _product(s, world, code="CHK")
        policy = _policy(s, world, product, 0)
        _policy(s, world, product, 1, effective=date(2027, 6, 1))  # still waiting in March
        _policy(s, world, product, 2, status="idle")
        good = _claim(s, world, husband, day, [("CONS", 1, 10_000), ("PARA", 4, 450)])
        mixed = _claim(s, world, wife, day, [("CONS", 1, 12_000), ("XRAY", 1, 30_000), ("DELIV", 1, 50_000),
                                             ("PARA", 2, 500)])
        male_delivery = _claim(s, world, husband, day + timedelta(days=1), [("DELIV", 1, 50_000)])
        not_insured = _claim(s, world, uninsured, day, [("CONS", 1, 10_000)])
        idle = _claim(s, world, world.families[2][0], day, [("CONS", 1, 10_000)])
        waiting = _claim(s, world, world.families[1][0], day, [("CONS", 1, 10_000)])
        closed = _claim(s, world, husband, day, [("CONS", 1, 10_000)], facility=world.closed_id)
        # the count limit (2 per period): the third consultation of this run goes over
        third = [_claim(s, world, wife, day + timedelta(days=d), [("CONS", 1, 10_000)]) for d in (3, 2, 4)]
        # the amount limit (5,000): 4 x 450 passed above, 8 x 500 more goes over
        over = _claim(s, world, husband, day + timedelta(days=5), [("PARA", 8, 500)])
        untouched = _claim(s, world, husband, day + timedelta(days=9), [("CONS", 1, 10_000)])
        everything_else = [good, mixed, male_delivery, not_insured, idle, waiting, closed, *third, over]
        result = check_claims(s, everything_else + [10**12])

        assert result["checked"] == 4 and result["rejected"] == 7 and result["skipped"] == 1
        assert result["claim_reasons"] == {"not_insured": 2, "waiting_period": 1, "facility_unknown": 1,
                                           "item_not_covered": 1, "limit_count": 1, "limit_amount": 1}
        assert result["line_reasons"] == {**result["claim_reasons"], "item_not_covered": 2, "price_above_list": 1}
        claims = {c.id: c for c in s.execute(select(InsuranceClaim)).scalars()}
        g = claims[good]
        assert (g.status, g.policy_id, g.product_id, g.version, g.rejection_reason) == ("checked", policy, product, 2,
                                                                                        None)
        assert g.checked_at is not None
        assert _lines(s, good) == [("passed", None, 10_000), ("passed", None, 500)]
        assert claims[mixed].status == "checked"
        assert _lines(s, mixed) == [("rejected", "price_above_list", 10_000), ("rejected", "item_not_covered", None),
                                    ("passed", None, 50_000), ("passed", None, 500)]
        assert (claims[male_delivery].status, claims[male_delivery].rejection_reason) == ("rejected",
                                                                                          "item_not_covered")
        for claim_id, reason in ((not_insured, "not_insured"), (idle, "not_insured"), (waiting, "waiting_period"),
                                 (closed, "facility_unknown")):
            assert (claims[claim_id].status, claims[claim_id].rejection_reason) == ("rejected", reason), reason
            assert _lines(s, claim_id)[0][:2] == ("rejected", reason)
        assert claims[not_insured].policy_id is None
        # in date order: the 2 Mar and 3 Mar consultations pass, the 4 Mar one is over the limit
        assert [claims[c].status for c in third] == ["checked", "checked", "rejected"]
        assert claims[third[2]].rejection_reason == "limit_count"
        assert (claims[over].status, claims[over].rejection_reason) == ("rejected", "limit_amount")
        assert claims[untouched].status == "entered" and claims[untouched].version == 1
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "claims.check")
                          .order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
        assert entry.details["counts"] == {"checked": 4, "rejected": 7, "skipped": 1, "lines_passed": 6,
                                           "lines_rejected": 9}

        # a duplicate of a checked claim; the next consultation counts the two passed ones (usage view)
        again = _claim(s, world, husband, day, [("CONS", 1, 10_000), ("PARA", 1, 500)])
        later = _claim(s, world, husband, day + timedelta(days=20), [("CONS", 1, 10_000)])
        result = check_claims(s)
        assert result["checked"] == 1 and result["rejected"] == 2
        assert _lines(s, again) == [("rejected", "duplicate", 10_000), ("rejected", "duplicate", 500)]
        assert s.get(InsuranceClaim, again).rejection_reason == "duplicate"
        assert s.get(InsuranceClaim, untouched).status == "checked"
        assert (s.get(InsuranceClaim, later).status, s.get(InsuranceClaim, later).rejection_reason) == (
            "rejected", "limit_count")
        s.rollback()


def test_employment_injury_claims_need_an_accepted_incident_before_the_visit(world):
    day = date(2027, 4, 1)
    worker = world.families[0][0]
    with world.scheme.tenant.session() as s:
        product = _product(s, world, code="EI", requires_incident=True)
        _policy(s, world, product, 0)
        employer = Employer(code="EMP1", name="Quarry", location_id=world.scheme.village_id)
        s.add(employer)
        s.flush()

        def incident(on: date, status: str) -> int:
            row = WorkIncident(individual_id=worker, employer_id=employer.id, incident_date=on, reported_on=on,
                               kind="accident", place="Quarry", description="Fall", status=status,
                               decided_on=None if status == "reported" else on)
            s.add(row)
            s.flush()
            return row.id

        accepted, reported, later = incident(day, "accepted"), incident(day, "reported"), incident(
            day + timedelta(days=3), "accepted")
        ok = _claim(s, world, worker, day, [("CONS", 1, 10_000)], incident_id=accepted)
        refused = [_claim(s, world, worker, day + timedelta(days=1), [("PARA", 1, 500)]),
                   _claim(s, world, worker, day + timedelta(days=2), [("PARA", 1, 500)], incident_id=reported),
                   _claim(s, world, worker, day + timedelta(days=2), [("DELIV", 1, 500)], incident_id=later)]
        check_claims(s)
        assert s.get(InsuranceClaim, ok).status == "checked"
        for claim_id in refused:
            assert (s.get(InsuranceClaim, claim_id).status,
                    s.get(InsuranceClaim, claim_id).rejection_reason) == ("rejected", "incident_required")
        s.rollback()


def test_check_then_review_then_valuation(world):
    husband, wife = world.families[0]
    with world.scheme.tenant.session() as s:
        product = _product(s, world, code="VAL", cost_sharing={"deductible_insuree_out_patient": 5_000,
                                                               "ceiling_policy_out_patient": 8_000})
        policy = _policy(s, world, product, 0)
        first = _claim(s, world, husband, date(2027, 3, 1), [("CONS", 1, 10_000), ("PARA", 4, 500)])
        second = _claim(s, world, wife, date(2027, 3, 2), [("CONS", 2, 10_000)])
        check_claims(s)
        # the review (another module's work): approve the first as claimed, adjust the second to 1 consultation
        s.execute(update(ClaimLine).where(ClaimLine.claim_id == first).values(status="approved"))
        s.execute(update(ClaimLine).where(ClaimLine.claim_id == second).values(status="adjusted", approved_quantity=1))
        s.execute(update(InsuranceClaim).where(InsuranceClaim.id.in_([first, second]))
                  .values(status="processed", version=InsuranceClaim.version + 1))
        assert valuate_claims(s, [second, first, 10**12]) == {"valuated": 2, "skipped": 1, "total": 8_000}
        rows = s.execute(select(ClaimLine.claim_id, ClaimLine.valuated, ClaimLine.copayment, ClaimLine.deductible)
                         .where(ClaimLine.claim_id.in_([first, second]))
                         .order_by(ClaimLine.claim_id, ClaimLine.line_no)).all()
        # husband: 10,000 - 1,000 co-payment - 5,000 deductible; 2,000 - 200; wife: 9,000 - her own 5,000
        # deductible, of which the policy's ceiling of 8,000 leaves 2,200
        assert [tuple(r)[1:] for r in rows] == [(4_000, 1_000, 5_000), (1_800, 200, 0), (2_200, 1_000, 5_000)]
        claim = s.get(InsuranceClaim, first)
        assert (claim.status, claim.valuated, claim.version, claim.policy_id) == ("valuated", 5_800, 4, policy)
        assert claim.valuated_at is not None
        assert valuate_claims(s) == {"valuated": 0, "skipped": 0, "total": 0}  # nothing processed is left
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "claims.valuate")
                          .order_by(AuditEntry.id.desc()).limit(2)).scalars().all()
        assert entry[1].details["counts"] == {"valuated": 2, "skipped": 1, "total": 8_000}
        s.rollback()


# ---- the SQL valuation against the pure function ----------------------------------------------------------

COST_KEYS = [f"{k}_{sc}_{c}" for k in ("deductible", "ceiling") for sc in ("insuree", "policy", "treatment")
             for c in ("in_patient", "out_patient")]
ENTRIES = ("CONS", "PARA", "DELIV", "XRAY")

line_st = st.tuples(st.sampled_from(ENTRIES), st.integers(1, 5), st.integers(0, 40_000),
                    st.sampled_from(["approved", "adjusted", "rejected", "passed"]),
                    st.one_of(st.none(), st.integers(0, 5)), st.one_of(st.none(), st.integers(0, 40_000)),
                    st.one_of(st.none(), st.integers(0, 40_000)))
claim_st = st.tuples(st.integers(0, 3),  # which insuree: two families of two
                     st.integers(0, 40),  # day
                     st.sampled_from(["out_patient", "in_patient", "emergency"]),
                     st.lists(line_st, min_size=0, max_size=4),
                     st.booleans())  # valued in the first run (else the second)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(COST_KEYS), st.integers(0, 60_000), max_size=6),
       st.sampled_from(["0", "10", "12.5", "33.33"]),
       st.dictionaries(st.sampled_from(ENTRIES), st.sampled_from(["0", "5", "50", "7.25"]), max_size=3),
       st.lists(claim_st, min_size=1, max_size=12))
def test_sql_valuation_equals_the_pure_function_claim_by_claim(world, costs, copay, overrides, claims):
    with world.scheme.tenant.session() as s:
        coverage = {code: ({"copayment_percent": Decimal(overrides[code])} if code in overrides else {})
                    for code in ENTRIES}
        product = _product(s, world, code="ORA", copayment=copay, cost_sharing=costs, coverage=coverage)
        policies = [_policy(s, world, product, 0), _policy(s, world, product, 1)]
        made = []
        for who, day, visit, lines, first_run in claims:
            individual = world.families[who // 2][who % 2]
            claim_id = _claim(s, world, individual, START + timedelta(days=day), lines, visit_type=visit,
                              status="processed", policy_id=policies[who // 2], product_id=product)
            made.append((claim_id, who, START + timedelta(days=day), visit, lines, first_run))
        valuate_claims(s, [m[0] for m in made if m[5]])
        valuate_claims(s)
        lines_got: dict[int, list] = {}
        for r in s.execute(select(ClaimLine.claim_id, ClaimLine.valuated, ClaimLine.copayment, ClaimLine.deductible)
                           .where(ClaimLine.claim_id.in_([m[0] for m in made]))
                           .order_by(ClaimLine.claim_id, ClaimLine.line_no)):
            lines_got.setdefault(r.claim_id, []).append((r.valuated, r.copayment, r.deductible))
        totals = dict(s.execute(select(InsuranceClaim.id, InsuranceClaim.valuated)
                                .where(InsuranceClaim.id.in_([m[0] for m in made]))).all())
        s.rollback()
    # the oracle: the pure function, claim by claim, first run then second, each in (date_from, id) order
    used: dict[tuple, dict[str, int]] = {}
    order = sorted([m for m in made if m[5]], key=lambda m: (m[2], m[0])) + \
        sorted([m for m in made if not m[5]], key=lambda m: (m[2], m[0]))
    for claim_id, who, _day, visit, lines, _first in order:
        care = care_of(visit)
        mine = used.setdefault((who // 2, who, care), {"d": 0, "v": 0})
        policy = used.setdefault((who // 2, None, care), {"d": 0, "v": 0})
        value = valuate_claim(
            [Line(no, q if aq is None else aq, p if ap is None else ap, lp,
                  Decimal(overrides.get(code, copay)), status != "rejected")
             for no, (code, q, p, status, aq, ap, lp) in enumerate(lines, start=1)],
            costs, care, Used(mine["d"], policy["d"], mine["v"], policy["v"]))
        for bucket in (mine, policy):
            bucket["d"] += value.deductible
            bucket["v"] += value.valuated
        assert totals[claim_id] == value.valuated, (claim_id, value)
        assert lines_got.get(claim_id, []) == [(v.valuated, v.copayment, v.deductible) for v in value.lines]


def test_cli_and_jobs_run_the_engine_for_a_tenant(world, runner, app):
    """``schemehost claims check|valuate SLUG`` and the ``claims.check`` / ``claims.valuate`` jobs
    commit their runs (this test's claims are the fifth family's, kept apart from the others')."""
    from schemehost.platform.extensions import db
    from schemehost.platform.jobs import run_job
    from schemehost.tenants.insurance.claims.tasks import CHECK, VALUATE, queue_claims_job

    person = world.families[4][0]
    with world.scheme.tenant.session() as s:
        _policy(s, world, _product(s, world, code="CLI"), 4)
        first = _claim(s, world, person, date(2027, 5, 1), [("CONS", 1, 10_000)])
        second = _claim(s, world, person, date(2027, 5, 2), [("PARA", 2, 500)])
    out = runner("claims", "check", world.scheme.slug, "--claim-id", str(first))
    assert out.exit_code == 0, out.output
    assert "1 checked, 0 rejected, 0 skipped" in out.output
    assert runner("claims", "check", "no-such-tenant").exit_code != 0
    with app.app_context():
        job_id = queue_claims_job(db.session, CHECK, tenant_id=world.scheme.tenant.id, actor="tester",
                                  audit_actor=("user", "7", "Tester"))
        db.session.commit()
        job = run_job(job_id)
        assert (job.status, job.result["checked"]) == ("succeeded", 1), job.result
    with world.scheme.tenant.session() as s:
        assert {c.status for c in s.execute(select(InsuranceClaim).where(
            InsuranceClaim.id.in_([first, second]))).scalars()} == {"checked"}
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "claims.check")
                          .order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
        assert (entry.actor_type, entry.actor_id, entry.actor_name) == ("user", "7", "Tester")
        s.execute(update(InsuranceClaim).where(InsuranceClaim.id.in_([first, second])).values(status="processed"))
    out = runner("claims", "valuate", world.scheme.slug, "--claim-id", str(second))
    assert out.exit_code == 0 and "1 valuated, 0 skipped; total 900" in out.output, out.output
    with app.app_context():
        job_id = queue_claims_job(db.session, VALUATE, tenant_id=world.scheme.tenant.id, claim_ids=[first, second])
        db.session.commit()
        job = run_job(job_id)
        assert (job.status, job.result) == ("succeeded", {"valuated": 1, "skipped": 1, "total": 9_000})


def test_two_runs_at_once_check_each_claim_once(world, app):
    """A second run waits for the first (advisory lock) and then finds nothing left to check: a claim
    and its copy entered together are judged once, one passed and one duplicate."""
    from schemehost.platform.extensions import db

    wife = world.families[5][1]
    with world.scheme.tenant.session() as s:
        _policy(s, world, _product(s, world, code="RUN"), 5)
        claims = [_claim(s, world, wife, date(2027, 8, 1), [("DELIV", 1, 50_000)]) for _ in range(2)]
        # and one changed by its facility while the run works: left entered for the next run
        edited = _claim(s, world, wife, date(2027, 8, 9), [("CONS", 1, 10_000)])
    results: dict[str, object] = {}

    def second_run() -> None:
        try:
            with world.scheme.tenant.session() as s:
                s.execute(text("SELECT set_config('application_name', 'claims-second', true)"))
                results["second"] = check_claims(s, claims)
        except Exception as exc:  # reported below
            results["second"] = exc

    with world.scheme.tenant.session() as first:
        results["first"] = check_claims(first, claims)
        thread = threading.Thread(target=second_run)
        thread.start()
        with app.app_context():
            for _ in range(600):
                waiting = db.session.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'claims-second' "
                    "AND wait_event_type = 'Lock'")).scalar()
                db.session.rollback()
                if waiting:
                    break
                threading.Event().wait(0.05)
            assert waiting, "the second run never waited for the first"
    thread.join(30)
    assert (results["first"]["checked"], results["first"]["rejected"]) == (1, 1)
    assert (results["second"]["checked"], results["second"]["rejected"], results["second"]["skipped"]) == (0, 0, 2)
    with world.scheme.tenant.session() as s:
        assert sorted((c.status, c.rejection_reason) for c in s.execute(
            select(InsuranceClaim).where(InsuranceClaim.id.in_(claims))).scalars()) == [
            ("checked", None), ("rejected", "duplicate")]

    # a claim whose version changes between the run's read and its write is left for the next run
    with world.scheme.tenant.session() as s:
        s.info["claims_timings"] = _Bump(s, edited)
        result = check_claims(s, [edited])
        assert (result["checked"], result["skipped"]) == (0, 1)
        claim = s.get(InsuranceClaim, edited)
        assert (claim.status, claim.version) == ("entered", 2)
        assert _lines(s, edited) == [("entered", None, None)]
        del s.info["claims_timings"]
        assert check_claims(s, [edited])["checked"] == 1


class _Bump(list):
    """Timings that, once the run has judged its lines, change the claim as its facility would."""

    def __init__(self, session, claim_id: int):
        super().__init__()
        self.session, self.claim_id = session, claim_id

    def append(self, item) -> None:
        super().append(item)
        if item[0].startswith("WITH keyed AS"):  # the last rule; the claim is written next
            self.session.execute(update(InsuranceClaim).where(InsuranceClaim.id == self.claim_id)
                                 .values(version=InsuranceClaim.version + 1))
