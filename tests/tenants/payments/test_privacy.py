"""The payments module's personal data: bills and notifications carrying the person's phone in their
subject-access export, erasure pseudonymising the payer copies of bills linked to them (and the payer
elements of the kept notifications) while amounts and statuses stay, and the retention hold on a person
with an unpaid bill."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import literal, select, update

from schemehost.tenants.payments import privacy as pay_privacy
from schemehost.tenants.payments.models import Bill, PaymentGateway, PaymentNotification
from schemehost.tenants.registry import privacy
from schemehost.tenants.registry.people import Individual

PERSONAL = ("registry.read", "registry.write", "registry.personal_data")
NOW = datetime.now(timezone.utc)
RAW = ("<pmtTrxInf><BillId>{ref}</BillId><PyrName>Asha Said</PyrName><PyrCellNum>255700111222</PyrCellNum>"
       "<PaidAmt>5000</PaidAmt></pmtTrxInf>")


@pytest.fixture
def billed(make_tenant):
    """A tenant with two people; Asha has a paid bill (and its notification) and an issued one, linked
    to her through a test payable kind; Juma has none. Returns (tenant, {name: id}, {bill: id})."""
    tenant = make_tenant("blank")
    from schemehost.tenants.registry import services as reg

    with tenant.session() as s:
        village = reg.create_location(s, code="V", name="Village", parent_id=None).id
        people = {}
        for name, phone in (("Asha", "+255700111222"), ("Juma", "+255700333444")):
            p = Individual(given_name=name, family_name="Said", name_search=f"{name} said".lower(), sex="female",
                           birth_date=datetime(1980, 1, 1).date(), scheme_number=f"P-{name}", phone=phone,
                           location_id=village, status="active", extra={})
            s.add(p)
            s.flush()
            people[name] = p.id
        gw = PaymentGateway(code="gepg", name="Control numbers", kind="control_number", base_url="http://127.0.0.1:9",
                            sp_code="SP1")
        s.add(gw)
        s.flush()
        bills = {}
        for key, status, payer, ref in (("paid", "paid", people["Asha"], "1"), ("open", "issued", people["Asha"], "2"),
                                        ("juma", "paid", people["Juma"], "3")):
            b = Bill(gateway_id=gw.id, reference=f"ref-{key}-{tenant.slug}"[:40], payable_kind="tests.fee",
                     payable_ref=ref, payer_name="Asha Said" if key != "juma" else "Juma Said",
                     payer_phone="+255700111222" if key != "juma" else "+255700333444", description="Fee",
                     amount=5000, currency="TZS", expires_at=NOW + timedelta(days=30), status=status,
                     paid_amount=5000 if status == "paid" else 0)
            s.add(b)
            s.flush()
            bills[key] = b.id
            if status == "paid":
                s.add(PaymentNotification(gateway_id=gw.id, gateway_txn_id=f"txn-{key}", bill_id=b.id,
                                          bill_reference=b.reference, amount=5000, currency="TZS", paid_at=NOW,
                                          receipt=f"RC-{key}", status="applied",
                                          raw=RAW.format(ref=b.reference)))
    refs = {"1": people["Asha"], "2": people["Asha"], "3": people["Juma"]}
    pay_privacy.register_person_payables("tests.fee", lambda s, ids: _refs_select(refs, ids))
    yield tenant, people, bills
    pay_privacy._payables.pop("tests.fee", None)


def _refs_select(refs, ids):
    """(individual_id, payable_ref) of the test kind's refs whose person is in ``ids`` (None: all)."""
    from sqlalchemy import false, union_all

    parts = [select(literal(person).label("individual_id"), literal(ref).label("ref"))
             for ref, person in refs.items() if ids is None or person in ids]
    return union_all(*parts) if parts else select(literal(0), literal("")).where(false())


def test_subject_access_lists_the_persons_bills_and_payments(billed, client, client_token):
    tenant, people, bills = billed
    token = client_token(tenant, scopes=PERSONAL)
    resp = client.get(f"/t/{tenant.slug}/api/v1/individuals/{people['Asha']}/subject-access",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.json
    section = resp.json["modules"]["payments"]
    assert [(b["id"], b["payer_phone"], b["status"]) for b in section["bills"]] == [
        (bills["paid"], "+255700111222", "paid"), (bills["open"], "+255700111222", "issued")]
    assert [n["receipt"] for n in section["bills"][0]["notifications"]] == ["RC-paid"]
    assert "Juma" not in resp.get_data(as_text=True)


def test_erasure_pseudonymises_payer_copies_and_keeps_amounts(billed):
    tenant, people, bills = billed
    with tenant.session() as s:
        privacy.erase_individual(s, people["Asha"], reason="request")
    with tenant.session() as s:
        for key in ("paid", "open"):
            b = s.get(Bill, bills[key])
            assert (b.payer_name, b.payer_phone, b.payer_email) == (f"Erased #{people['Asha']}", None, None)
            assert b.amount == 5000 and b.status == ("paid" if key == "paid" else "issued")
        raw = s.execute(select(PaymentNotification.raw).where(PaymentNotification.bill_id == bills["paid"])).scalar_one()
        assert "Asha" not in raw and "255700111222" not in raw and "<PaidAmt>5000</PaidAmt>" in raw
        juma = s.get(Bill, bills["juma"])
        assert (juma.payer_name, juma.payer_phone) == ("Juma Said", "+255700333444")
        assert "Asha Said" in s.execute(select(PaymentNotification.raw)
                                        .where(PaymentNotification.bill_id == bills["juma"])).scalar_one()


def test_retention_keeps_a_person_with_an_unpaid_bill(billed):
    tenant, people, bills = billed
    old = datetime.now(timezone.utc) - timedelta(days=3 * 366)
    with tenant.session() as s:
        privacy.set_retention(s, inactive_years=2)
        s.execute(update(Individual).values(status="inactive", updated_at=old))
    with tenant.session() as s:
        assert privacy.apply_retention(s)["erased"] == 1  # Juma; Asha has an issued bill
        assert s.get(Individual, people["Asha"]).status == "inactive"
        assert s.get(Individual, people["Juma"]).status == "erased"


def test_erasure_handler_takes_more_bills_and_ids_than_a_statement_has_parameters(billed):
    """70,000 unknown ids with Asha's, and 70,000 more bills of hers (more than the 65,535 parameters a
    statement may have): her bills and their notification are pseudonymised exactly as when erased
    alone, Juma's stay."""
    from sqlalchemy import Text, false, func

    tenant, people, bills = billed
    many = func.generate_series(1, 70_000).table_valued("value").render_derived("n")
    with tenant.session() as s:
        paid = s.get(Bill, bills["paid"])
        s.execute(Bill.__table__.insert().from_select(
            ["gateway_id", "reference", "payable_kind", "payable_ref", "payer_name", "payer_phone", "description",
             "amount", "currency", "expires_at", "status", "paid_amount"],
            select(literal(paid.gateway_id), literal("many-") + many.c.value.cast(Text), literal("tests.many"),
                   many.c.value.cast(Text), literal("Asha Said"), literal("+255700111222"), literal("Fee"),
                   literal(5000), literal("TZS"), literal(NOW + timedelta(days=30)), literal("issued"), literal(0))))

    def asha_many(s, ids):
        n = func.generate_series(1, 70_000).table_valued("value").render_derived("m")
        stmt = select(literal(people["Asha"]).label("individual_id"), n.c.value.cast(Text).label("ref"))
        return stmt if ids is None or people["Asha"] in ids else stmt.where(false())

    pay_privacy.register_person_payables("tests.many", asha_many)
    try:
        with tenant.session() as s:
            pay_privacy.erase_payments(s, list(range(10**12, 10**12 + 70_000)) + [people["Asha"]])
    finally:
        pay_privacy._payables.pop("tests.many", None)
    with tenant.session() as s:
        named = dict(s.execute(select(Bill.payer_name, func.count()).group_by(Bill.payer_name)).all())
        assert named == {f"Erased #{people['Asha']}": 70_002, "Juma Said": 1}
        raw = s.execute(select(PaymentNotification.raw)
                        .where(PaymentNotification.bill_id == bills["paid"])).scalar_one()
        assert "Asha" not in raw and "255700111222" not in raw and "<PaidAmt>5000</PaidAmt>" in raw
        assert "Asha Said" in s.execute(select(PaymentNotification.raw)
                                        .where(PaymentNotification.bill_id == bills["juma"])).scalar_one()
