"""Personal data: consent history, the subject-access export, erasure by pseudonymisation, the retention
rule; permissions, other tenants, and no personal data in log lines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Text, func, literal, select, update

from schemehost.tenants.registry import privacy
from schemehost.tenants.registry.people import Consent, DuplicateFlag, Household, Individual

from .conftest import audit_entries

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "platform"))
from _console_support import csrf_from, own_address  # noqa: E402

PERSONAL = "registry.personal_data"


class Caller:
    def __init__(self, client, slug, token):
        self.client, self.base, self.headers = client, f"/t/{slug}/api/v1", {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method):
        def call(path, **kw):
            return getattr(self.client, method)(self.base + path, headers=self.headers, **kw)

        return call


_n = iter(range(1, 10 ** 9))


def _person(s, village, *, given, family, household=None, relationship=None, phone=None, national_id=None,
            birth=date(1985, 3, 14), status="active", extra=None):
    n = next(_n)
    p = Individual(given_name=given, family_name=family, name_search=f"{given} {family}".lower(), sex="female",
                   birth_date=birth, scheme_number=f"T-{n:08d}", external_id=f"old-{n}", phone=phone,
                   national_id=national_id, location_id=village, household_id=household,
                   relationship=relationship, status=status, extra=extra or {}, photo=b"\x89PNG face")
    s.add(p)
    s.flush()
    return p


@pytest.fixture
def family(tenant, tree):
    """A household in village Upper: Amina Mwakyusa (head), her husband Baraka, their child Neema;
    and Zawadi Kimaro elsewhere, flagged as a probable duplicate of Amina. Returns {name: id}."""
    with tenant.session() as s:
        hh = Household(location_id=tree["N-R-T-U"], address="Plot 12, Mtaa wa Kati", extra={"roof": "tin"},
                       external_id="hh-old-1")
        s.add(hh)
        s.flush()
        amina = _person(s, tree["N-R-T-U"], given="Amina", family="Mwakyusa", household=hh.id,
                        relationship="head", phone="+255754123456", national_id="19850314123450000123",
                        extra={"occupation": "teacher"})
        baraka = _person(s, tree["N-R-T-U"], given="Baraka", family="Mwakyusa", household=hh.id,
                         relationship="spouse", phone="+255754999888")
        neema = _person(s, tree["N-R-T-U"], given="Neema", family="Mwakyusa", household=hh.id,
                        relationship="child", birth=date(2015, 9, 2))
        hh.head_id = amina.id
        zawadi = _person(s, tree["S-H"], given="Zawadi", family="Kimaro", phone="+255713000111")
        s.add(DuplicateFlag(individual_id=zawadi.id, candidate_id=amina.id, reasons={"name_similarity": 0.41},
                            score=0.41))
        s.add(Consent(individual_id=zawadi.id, purpose="data_sharing", given=True, evidence="form Z-9"))
        return {"amina": amina.id, "baraka": baraka.id, "neema": neema.id, "zawadi": zawadi.id, "household": hh.id}


@pytest.fixture
def officer(client, client_token, tenant):
    return Caller(client, tenant.slug, client_token(tenant, scopes=("registry.read", "registry.write", PERSONAL,
                                                                   "settings.manage")))


@pytest.fixture
def reader(client, client_token, tenant):
    return Caller(client, tenant.slug, client_token(tenant, scopes=("registry.read",)))


# ---- consents ----------------------------------------------------------------------------------------


def test_consent_history_latest_per_purpose_holds(officer, reader, family, tenant):
    base = f"/individuals/{family['amina']}/consents"
    assert officer.post(base, json={"purpose": "data_sharing", "given": True, "evidence": "form 2026/114"}
                        ).status_code == 201
    assert officer.post(base, json={"purpose": "sms_reminders", "given": True}).status_code == 201
    withdrawn = officer.post(base, json={"purpose": "data_sharing", "given": False, "evidence": "letter of 3 May"})
    assert withdrawn.status_code == 201 and withdrawn.json["given"] is False

    got = reader.get(base)
    assert got.status_code == 200
    assert {p: c["given"] for p, c in got.json["current"].items()} == {"data_sharing": False, "sms_reminders": True}
    assert [(c["purpose"], c["given"]) for c in got.json["history"]] == [
        ("data_sharing", False), ("sms_reminders", True), ("data_sharing", True)]
    with tenant.session() as s:
        assert not privacy.has_consent(s, family["amina"], "data_sharing")
        assert privacy.has_consent(s, family["amina"], "sms_reminders")
        assert not privacy.has_consent(s, family["amina"], "research")
    # audited without the evidence text (it may quote people)
    entries = [e for e in audit_entries(tenant, "individual") if e.action.startswith("consent.")]
    assert [e.action for e in entries] == ["consent.give", "consent.give", "consent.withdraw"]
    assert all("evidence" not in (e.after or {}) for e in entries)
    assert "form 2026/114" not in json.dumps([e.after for e in entries] + [e.details for e in entries])


def test_consent_input_errors_and_permissions(officer, reader, family):
    base = f"/individuals/{family['amina']}/consents"
    bad = officer.post(base, json={"purpose": "Data Sharing!", "given": True, "evidence": "x" * 501})
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"
    assert set(bad.json["errors"]) == {"purpose", "evidence"}
    missing = officer.post(base, json={"purpose": "research"})
    assert missing.status_code == 422 and "given" in json.dumps(missing.json)
    assert reader.post(base, json={"purpose": "research", "given": True}).status_code == 403
    assert officer.get("/individuals/999999999/consents").status_code == 404


# ---- subject access ------------------------------------------------------------------------------------


def test_subject_access_holds_everything_on_the_person_and_nothing_on_others(officer, family, tenant):
    privacy.register_subject_provider("tests", lambda s, pid: {"policies": [{"individual": pid, "paid": 1500}]})
    try:
        assert officer.post(f"/individuals/{family['amina']}/consents",
                            json={"purpose": "data_sharing", "given": True}).status_code == 201
        resp = officer.get(f"/individuals/{family['amina']}/subject-access")
    finally:
        privacy._providers.pop("tests", None)
    assert resp.status_code == 200
    data = resp.json
    ind = data["individual"]
    assert (ind["id"], ind["given_name"], ind["family_name"], ind["phone"], ind["national_id"]) == (
        family["amina"], "Amina", "Mwakyusa", "+255754123456", "19850314123450000123")
    assert ind["extra"] == {"occupation": "teacher"} and ind["birth_date"] == "1985-03-14" and ind["photo"]
    assert data["location"]["code"] == "N-R-T-U"
    hh = data["household"]
    assert hh["id"] == family["household"] and hh["address"] == "Plot 12, Mtaa wa Kati" and hh["subject_is_head"]
    assert [(m["id"], m["relationship_to_head"]) for m in hh["members"]] == [
        (family["amina"], "head"), (family["baraka"], "spouse"), (family["neema"], "child")]
    assert [c["purpose"] for c in data["consents"]] == ["data_sharing"]
    assert [e["action"] for e in data["audit"]] == ["consent.give"]
    assert [(f["other_individual_id"], f["status"]) for f in data["duplicate_flags"]] == [(family["zawadi"], "open")]
    # each module's section under its name (other modules of the product add theirs beside it)
    assert data["modules"]["tests"] == {"policies": [{"individual": family["amina"], "paid": 1500}]}
    # the other members and the other person appear by id only
    text = json.dumps(data)
    for other in ("Baraka", "Neema", "Zawadi", "Kimaro", "+255754999888", "+255713000111", "form Z-9"):
        assert other not in text


def test_subject_access_permissions_and_other_tenants(officer, reader, family, make_tenant, client, client_token):
    path = f"/individuals/{family['amina']}/subject-access"
    assert reader.get(path).status_code == 403
    assert reader.post(f"/individuals/{family['amina']}/erase", json={"confirm": family["amina"]}).status_code == 403
    other = make_tenant("blank")
    stranger = Caller(client, other.slug, client_token(other, scopes=("registry.read", "registry.write", PERSONAL)))
    for resp in (stranger.get(path), stranger.post(f"/individuals/{family['amina']}/erase",
                                                   json={"confirm": family["amina"]}),
                 stranger.get(f"/individuals/{family['amina']}/consents")):
        assert resp.status_code == 404
    # and this tenant's token is refused on the other tenant's API
    other_path = f"/t/{other.slug}/api/v1/individuals/{family['amina']}/subject-access"
    assert client.get(other_path, headers=officer.headers).status_code in (401, 403)


def test_location_restricted_user_reaches_only_people_in_their_locations(family, tenant, tree):
    from schemehost.tenants.identity.principal import Principal

    with tenant.session() as s:
        south_only = Principal(kind="user", id="7", name="Officer South", tenant_id=tenant.id,
                               permissions=frozenset({"registry.read", PERSONAL}),
                               location_ids=frozenset({tree["S"]}))
        assert privacy.subject_access(s, family["zawadi"], principal=south_only)["individual"]["id"] == family["zawadi"]
        with pytest.raises(Exception) as err:
            privacy.subject_access(s, family["amina"], principal=south_only)
        assert getattr(err.value, "status", None) == 404


# ---- erasure -------------------------------------------------------------------------------------------


def test_erasure_pseudonymises_and_keeps_ids_links_and_history(officer, family, tenant):
    amina = family["amina"]
    assert officer.post(f"/individuals/{amina}/consents",
                        json={"purpose": "data_sharing", "given": True, "evidence": "form 2026/114"}).status_code == 201
    wrong = officer.post(f"/individuals/{amina}/erase", json={"confirm": amina + 1})
    assert wrong.status_code == 422 and "confirm" in wrong.json["errors"]
    assert officer.post(f"/individuals/{amina}/erase", json={}).status_code == 422

    resp = officer.post(f"/individuals/{amina}/erase", json={"confirm": amina})
    assert resp.status_code == 200 and resp.json["status"] == "erased" and resp.json["erased_at"]
    with tenant.session() as s:
        p = s.get(Individual, amina)
        assert (p.given_name, p.family_name, p.other_names, p.name_search) == ("Erased", f"#{amina}", None,
                                                                               f"erased #{amina}")
        assert (p.national_id, p.phone, p.photo, p.extra) == (None, None, None, {})
        assert p.external_id is not None  # a re-import recognises the erased record
        assert p.birth_date == date(1985, 7, 1) and p.birth_date_estimated
        assert p.scheme_number == f"ERASED-{amina}" and p.status == "erased" and p.erased_at is not None
        # ids and links unchanged; the household keeps its other members' data
        assert (p.household_id, p.relationship, p.sex) == (family["household"], "head", "female")
        hh = s.get(Household, family["household"])
        assert hh.head_id == amina and hh.address == "Plot 12, Mtaa wa Kati"
        baraka = s.get(Individual, family["baraka"])
        assert baraka.given_name == "Baraka" and baraka.phone == "+255754999888"
        consent = s.execute(select(Consent).where(Consent.individual_id == amina)).scalar_one()
        assert consent.given and consent.evidence is None
        flag = s.execute(select(DuplicateFlag).where(DuplicateFlag.candidate_id == amina)).scalar_one()
        assert flag.status == "dismissed"
        first_erased_at = p.erased_at
    entries = audit_entries(tenant, "individual", "erase")
    assert len(entries) == 1 and entries[0].entity_id == str(amina)
    assert entries[0].before == {"status": "active"} and entries[0].after == {"status": "erased"}
    # nothing in the audit log about her quotes her
    about = [e for e in audit_entries(tenant, "individual") if e.entity_id == str(amina)]
    dumped = json.dumps([[e.before, e.after, e.details] for e in about])
    for value in ("Amina", "Mwakyusa", "+255754123456", "19850314123450000123", "teacher", "form 2026/114"):
        assert value not in dumped

    again = officer.post(f"/individuals/{amina}/erase", json={"confirm": amina})
    assert again.status_code == 200 and again.json["status"] == "erased"
    assert len(audit_entries(tenant, "individual", "erase")) == 1
    with tenant.session() as s:
        assert s.get(Individual, amina).erased_at == first_erased_at
    # the export now shows what is left, and no consent can be added any more
    left = officer.get(f"/individuals/{amina}/subject-access").json
    assert left["individual"]["given_name"] == "Erased" and left["individual"]["phone"] is None
    assert officer.post(f"/individuals/{amina}/consents", json={"purpose": "x", "given": True}).status_code == 409


def test_household_data_goes_when_every_member_is_erased(family, tenant):
    with tenant.session() as s:
        for key in ("amina", "baraka"):
            privacy.erase_individual(s, family[key])
        assert s.get(Household, family["household"]).address == "Plot 12, Mtaa wa Kati"
        privacy.erase_individual(s, family["neema"])
        hh = s.get(Household, family["household"])
        assert (hh.address, hh.extra, hh.external_id, hh.status) == (None, {}, "hh-old-1", "inactive")
        assert hh.head_id == family["amina"]


def test_erasure_handlers_of_other_modules_run_with_the_erased_ids(family, tenant):
    seen: list[list[int]] = []
    privacy.register_erasure_handler("tests", lambda s, ids: seen.append(sorted(ids)))
    try:
        with tenant.session() as s:
            privacy.erase_individual(s, family["zawadi"])
            privacy.erase_individual(s, family["zawadi"])
    finally:
        privacy._erasure_handlers.pop("tests", None)
    assert seen == [[family["zawadi"]]]


# ---- retention -----------------------------------------------------------------------------------------


def _age(tenant, ids, *, years, status):
    with tenant.session() as s:
        s.execute(update(Individual).where(Individual.id.in_(ids)).values(
            status=status, updated_at=datetime.now(timezone.utc) - timedelta(days=365 * years + 3)))


def test_retention_rule_erases_old_inactive_records_once_per_run(officer, reader, family, tenant):
    assert reader.get("/registry/retention").json == {"inactive_years": None}
    assert officer.put("/registry/retention", json={"inactive_years": 0}).status_code == 422
    assert reader.put("/registry/retention", json={"inactive_years": 10}).status_code == 403
    assert officer.put("/registry/retention", json={"inactive_years": 10}).json == {"inactive_years": 10}
    assert reader.get("/registry/retention").json == {"inactive_years": 10}

    _age(tenant, [family["baraka"]], years=11, status="inactive")
    _age(tenant, [family["neema"]], years=11, status="deceased")
    _age(tenant, [family["amina"]], years=11, status="active")  # old but active: kept
    _age(tenant, [family["zawadi"]], years=3, status="inactive")  # inactive, not long enough: kept
    with tenant.session() as s:
        assert privacy.apply_retention(s) == {"rule": {"inactive_years": 10}, "erased": 2, "imports_purged": 0}
    with tenant.session() as s:
        statuses = dict(s.execute(select(Individual.id, Individual.status)).all())
    assert statuses == {family["amina"]: "active", family["baraka"]: "erased", family["neema"]: "erased",
                        family["zawadi"]: "inactive"}
    runs = audit_entries(tenant, "individual", "retention.erase")
    assert len(runs) == 1 and runs[0].details["counts"] == {"erased": 2}
    assert runs[0].details["input"]["rule"] == {"inactive_years": 10} and runs[0].actor_type == "system"
    with tenant.session() as s:
        assert privacy.apply_retention(s)["erased"] == 0
    assert len(audit_entries(tenant, "individual", "retention.erase")) == 1

    assert officer.put("/registry/retention", json={"inactive_years": None}).json == {"inactive_years": None}
    _age(tenant, [family["zawadi"]], years=30, status="inactive")
    with tenant.session() as s:
        assert privacy.apply_retention(s) == {"rule": None, "erased": 0, "imports_purged": 0}


def test_retention_holds_keep_records_other_modules_still_need(family, tenant):
    from sqlalchemy import literal

    privacy.register_retention_hold("tests", lambda s: select(literal(family["baraka"])))
    try:
        with tenant.session() as s:
            privacy.set_retention(s, inactive_years=5)
        _age(tenant, [family["baraka"], family["neema"]], years=6, status="inactive")
        with tenant.session() as s:
            assert privacy.apply_retention(s)["erased"] == 1
            assert s.get(Individual, family["baraka"]).status == "inactive"
    finally:
        privacy._holds.pop("tests", None)


def test_daily_task_applies_every_tenants_rule(app, family, tenant):
    with tenant.session() as s:
        privacy.set_retention(s, inactive_years=1)
    _age(tenant, [family["zawadi"]], years=2, status="inactive")
    with app.app_context():
        done = privacy.apply_retention_everywhere()
    assert done.get(tenant.slug) == 1


# ---- no personal data in log lines -------------------------------------------------------------------


def test_no_personal_data_in_logs(officer, family, tenant, caplog):
    caplog.set_level(logging.DEBUG)
    amina = family["amina"]
    officer.post(f"/individuals/{amina}/consents", json={"purpose": "data_sharing", "given": True,
                                                         "evidence": "form 2026/114"})
    officer.post(f"/individuals/{amina}/consents", json={"purpose": "BAD purpose", "given": True,
                                                         "evidence": "Amina Mwakyusa signed"})
    officer.get(f"/individuals/{amina}/subject-access")
    officer.post(f"/individuals/{amina}/erase", json={"confirm": amina})
    with tenant.session() as s:
        privacy.set_retention(s, inactive_years=1)
    _age(tenant, [family["zawadi"]], years=2, status="inactive")
    with tenant.session() as s:
        privacy.apply_retention(s)
    assert caplog.records  # the run did log (ids and counts)
    for value in ("Amina", "Mwakyusa", "Zawadi", "Kimaro", "+255754123456", "255754123456",
                  "19850314123450000123", "form 2026/114", "teacher"):
        assert value not in caplog.text


# ---- console -------------------------------------------------------------------------------------------


def _signed_in(app, tenant, tenant_user, roles):
    client = app.test_client()
    own_address(client)
    _uid, email, password = tenant_user(tenant, roles=roles)
    page = client.get(f"/t/{tenant.slug}/login")
    resp = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password, "next": ""})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def test_console_pages_consents_subject_access_and_erasure(app, tenant, tenant_user, family):
    admin = _signed_in(app, tenant, tenant_user, ("tenant_admin",))
    base = f"/t/{tenant.slug}/registry/individuals/{family['amina']}"
    page = admin.get(f"{base}/consents")
    assert page.status_code == 200 and "No consent recorded." in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    bad = admin.post(f"{base}/consents", data={"csrf_token": token, "purpose": "no way!", "given": "1"})
    assert bad.status_code == 422 and "A purpose code" in bad.get_data(as_text=True)
    ok = admin.post(f"{base}/consents", data={"csrf_token": token, "purpose": "sms_reminders", "given": "1",
                                              "evidence": "form 7"})
    assert ok.status_code == 302
    assert "sms_reminders" in admin.get(f"{base}/consents").get_data(as_text=True)

    sa = admin.get(f"{base}/subject-access")
    html = sa.get_data(as_text=True)
    assert sa.status_code == 200 and "Amina" in html and "+255754123456" in html and "Baraka" not in html
    download = admin.get(f"{base}/subject-access?format=json")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert json.loads(download.data)["individual"]["id"] == family["amina"]

    token = csrf_from(html)
    unticked = admin.post(f"{base}/erase", data={"csrf_token": token, "confirm": str(family["amina"])})
    assert unticked.status_code == 422 and "Tick this box" in unticked.get_data(as_text=True)
    wrong = admin.post(f"{base}/erase", data={"csrf_token": token, "confirm": str(family["amina"] + 1),
                                               "understood": "y"})
    assert wrong.status_code == 422 and "does not match" in wrong.get_data(as_text=True)
    done = admin.post(f"{base}/erase", data={"csrf_token": token, "confirm": str(family["amina"]), "understood": "y"})
    assert done.status_code == 302
    after = admin.get(f"{base}/subject-access").get_data(as_text=True)
    assert "This record was erased" in after and "+255754123456" not in after and 'id="erase"' not in after


def test_console_permissions(app, tenant, tenant_user, family):
    officer = _signed_in(app, tenant, tenant_user, ("enrolment_officer",))
    base = f"/t/{tenant.slug}/registry/individuals/{family['amina']}"
    page = officer.get(f"{base}/consents")
    assert page.status_code == 200 and "Personal data held" not in page.get_data(as_text=True)
    assert officer.get(f"{base}/subject-access").status_code == 403
    token = csrf_from(page.get_data(as_text=True))
    assert officer.post(f"{base}/erase", data={"csrf_token": token, "confirm": str(family["amina"]),
                                               "understood": "y"}).status_code == 403


def test_retention_cli_applies_the_rule_now(runner, family, tenant):
    none = runner("registry", "retention", tenant.slug)
    assert none.exit_code == 0 and "no retention rule" in none.output
    with tenant.session() as s:
        privacy.set_retention(s, inactive_years=2)
    _age(tenant, [family["zawadi"]], years=3, status="inactive")
    done = runner("registry", "retention", tenant.slug)
    assert done.exit_code == 0 and "1 record(s) erased" in done.output
    with tenant.session() as s:
        assert s.get(Individual, family["zawadi"]).status == "erased"


def test_retention_run_erases_more_people_than_a_statement_has_parameters(family, tenant, tree):
    """70,000 old inactive records (more than the 65,535 parameters a statement may have) go in one
    retention run, and the family erased with them ends exactly as when erased alone: consents kept
    without evidence, the open flag dismissed, the household emptied of its address."""
    ind = Individual.__table__
    n = func.generate_series(1, 70_000).table_valued("value").render_derived("n")
    with tenant.session() as s:
        s.execute(ind.insert().from_select(
            ["given_name", "family_name", "name_search", "sex", "birth_date", "scheme_number", "external_id",
             "location_id", "status", "updated_at"],
            select(literal("Bulk"), literal("P") + n.c.value.cast(Text), literal("bulk p"), literal("male"),
                   literal(date(1950, 1, 1)), literal("BULK-") + n.c.value.cast(Text),
                   literal("bulk-") + n.c.value.cast(Text), literal(tree["S-H"]), literal("inactive"),
                   literal(datetime(2000, 1, 1, tzinfo=timezone.utc)))))
        privacy.set_retention(s, inactive_years=10)
    _age(tenant, [family[k] for k in ("amina", "baraka", "neema", "zawadi")], years=11, status="inactive")
    with tenant.session() as s:
        s.add(Consent(individual_id=family["amina"], purpose="data_sharing", given=True, evidence="form 2026/114"))
    with tenant.session() as s:
        assert privacy.apply_retention(s)["erased"] == 70_004
    with tenant.session() as s:
        assert s.execute(select(func.count()).select_from(ind).where(ind.c.status != "erased")).scalar_one() == 0
        assert s.execute(select(Consent.evidence)).scalars().all() == [None, None]
        assert s.execute(select(DuplicateFlag.status)).scalars().all() == ["dismissed"]
        hh = s.get(Household, family["household"])
        assert (hh.address, hh.extra, hh.external_id, hh.status) == (None, {}, "hh-old-1", "inactive")
