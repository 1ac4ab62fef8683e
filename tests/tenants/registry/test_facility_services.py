"""Health facilities, the catalogue and price lists through the services, with the price lookup."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from schemehost.platform import money
from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.core.services import put_setting
from schemehost.tenants.registry import services as reg

from .conftest import audit_entries


def _facility(s, tree, code="HC1", location="N-R-T-U", **kw):
    values = {"name": "Upper health centre", "level": "health_centre", "care_type": "out_patient"} | kw
    return reg.create_facility(s, code=code, location_id=tree[location], **values)


def test_facilities_sit_in_the_lowest_two_levels_with_a_coherent_contract(tenant, tree):
    with tenant.session() as s:
        hc = _facility(s, tree, contract_start="2026-01-01", contract_end=date(2026, 12, 31))
        assert (hc.level, hc.care_type, hc.status, hc.contract_end) == ("health_centre", "out_patient", "active",
                                                                         date(2026, 12, 31))
        hospital = _facility(s, tree, code="HOSP", location="N-R-T", level="hospital", care_type="both")
        assert hospital.location_id == tree["N-R-T"]
        with pytest.raises(ValidationError) as err:
            _facility(s, tree, code="X1", location="N-R")
        assert err.value.errors["location_id"] == [
            "A health facility is placed in a Village or a Municipality, not in a District."]
        with pytest.raises(ValidationError) as err:
            _facility(s, tree, code="X2", level="clinic", care_type="day", status="closed",
                      contract_start="2026-05-01", contract_end="2026-04-30")
        assert set(err.value.errors) == {"level", "care_type", "status", "contract_end"}
        assert err.value.errors["contract_end"] == ["The end cannot be before the start."]
        with pytest.raises(ValidationError) as err:
            _facility(s, tree, code="X3", contract_start="31/01/2026")
        assert list(err.value.errors) == ["contract_start"]
        with pytest.raises(Conflict) as err:
            _facility(s, tree, code="HC1")
        assert list(err.value.errors) == ["code"]

        with pytest.raises(ValidationError) as err:  # only the end changes, still before the start
            reg.update_facility(s, hc.id, contract_end="2025-12-31")
        assert list(err.value.errors) == ["contract_end"]
        reg.update_facility(s, hc.id, status="inactive", name="Upper dispensary", level="dispensary")
        assert [f.code for f in reg.list_facilities(s, status="active")] == ["HOSP"]
        assert [f.code for f in reg.list_facilities(s, within=tree["N-R"])] == ["HC1", "HOSP"]
        assert [f.code for f in reg.list_facilities(s, within=tree["N-R-T-U"])] == ["HC1"]
        assert [f.code for f in reg.list_facilities(s, q="dispens")] == ["HC1"]
    updates = audit_entries(tenant, "health_facility", "update")
    assert len(updates) == 1
    assert (updates[0].before["status"], updates[0].after["status"]) == ("active", "inactive")
    assert updates[0].before["contract_end"] == "2026-12-31"
    assert len(audit_entries(tenant, "health_facility", "create")) == 2


def test_with_two_levels_a_facility_goes_in_either(tenant):
    with tenant.session() as s:
        put_setting(s, "location_levels", ["Island"])
        island = reg.create_location(s, code="I", name="Island")
        assert reg.create_facility(s, code="H", name="H", level="hospital", care_type="both",
                                   location_id=island.id).location_id == island.id


def test_catalogue_kinds_types_prices_and_validity(tenant):
    with tenant.session() as s:
        put_setting(s, "currency", "TZS")
        para = reg.create_entry(s, kind="item", code="PARA500", name="Paracetamol 500 mg", type="medicine",
                                unit_price=money.to_minor("150.00", "TZS"), frequency_days=1)
        assert (para.unit_price, para.currency, para.care_type, para.patient_sex) == (15000, "TZS", "both", "any")
        anc = reg.create_entry(s, kind="service", code="ANC", name="Antenatal visit", type="consultation",
                               patient_sex="female", patient_age="adult", valid_from="2026-01-01")
        assert anc.unit_price is None and anc.currency is None
        with pytest.raises(ValidationError) as err:
            reg.create_entry(s, kind="service", code="X", name="X", type="medicine", unit_price=-5,
                             frequency_days=0, valid_from="2026-02-01", valid_to="2026-01-01")
        assert set(err.value.errors) == {"type", "unit_price", "frequency_days", "valid_to"}
        with pytest.raises(ValidationError) as err:
            reg.create_entry(s, kind="drug", code="X", name="X", type="medicine", unit_price=1.5)
        assert set(err.value.errors) == {"kind", "unit_price"}
        with pytest.raises(Conflict):
            reg.create_entry(s, kind="service", code="PARA500", name="Same code", type="other")
        reg.update_entry(s, para.id, unit_price=20000, name="Paracetamol 500 mg tablet")
        with pytest.raises(ValidationError) as err:
            reg.update_entry(s, para.id, kind="service")
        assert list(err.value.errors) == ["kind"]
        assert [e.code for e in reg.list_entries(s, kind="service")] == ["ANC"]
        assert [e.code for e in reg.list_entries(s, valid_on=date(2025, 6, 1))] == ["PARA500"]
        assert [e.code for e in reg.list_entries(s, q="para")] == ["PARA500"]
    update = audit_entries(tenant, "catalogue_entry", "update")[0]
    assert (update.before["unit_price"], update.after["unit_price"]) == (15000, 20000)


@pytest.fixture
def priced(tenant, tree):
    """Two facilities, two entries, a shared list and one facility list; returns their ids."""
    with tenant.session() as s:
        put_setting(s, "currency", "XAF")
        ids = {
            "hc": _facility(s, tree).id,
            "other": _facility(s, tree, code="HC2", location="N-R-T-L").id,
            "anc": reg.create_entry(s, kind="service", code="ANC", name="Antenatal visit", type="consultation",
                                    unit_price=2000).id,
            "del": reg.create_entry(s, kind="service", code="DEL", name="Delivery", type="delivery",
                                    valid_to="2027-12-31").id,
            "shared": reg.create_price_list(s, code="NAT-2026", name="National tariff 2026",
                                            valid_from="2026-01-01").id,
        }
        ids["own"] = reg.create_price_list(s, code="HC1-2026", name="Upper HC tariff", facility_id=ids["hc"],
                                           valid_from="2026-03-01", valid_to="2026-12-31").id
        reg.set_price(s, ids["shared"], "ANC", 2500)
        reg.set_price(s, ids["shared"], ids["del"], 20000)
        reg.set_price(s, ids["own"], "ANC", 3000)
    return ids


def test_price_for_prefers_the_facility_list_then_the_shared_one_on_the_date(tenant, priced):
    with tenant.session() as s:
        own = reg.price_for(s, priced["hc"], priced["anc"], date(2026, 6, 1))
        assert (own.amount, own.currency, own.source, own.price_list_code) == (3000, "XAF", "facility", "HC1-2026")
        # before and after the facility list, and at another facility: the shared list
        for facility, day in [(priced["hc"], date(2026, 2, 28)), (priced["hc"], date(2027, 1, 1)),
                              (priced["other"], date(2026, 6, 1))]:
            quote = reg.price_for(s, facility, "ANC", day)
            assert (quote.amount, quote.source, quote.price_list_id) == (2500, "shared", priced["shared"])
        # the facility list does not price deliveries: the shared list does
        assert reg.price_for(s, priced["hc"], "DEL", date(2026, 6, 1)).amount == 20000
        # before any list: nothing, or the catalogue's default price when asked
        assert reg.price_for(s, priced["hc"], "ANC", date(2025, 12, 31)) is None
        default = reg.price_for(s, priced["hc"], "ANC", date(2025, 12, 31), use_default=True)
        assert (default.amount, default.source, default.price_list_id) == (2000, "catalogue", None)
        # an entry past its own validity has no price
        assert reg.price_for(s, priced["hc"], "DEL", date(2028, 1, 1)) is None
        # a newer shared list wins over an older one that is still valid
        newer = reg.create_price_list(s, code="NAT-2026B", name="Revised", valid_from="2026-07-01")
        reg.set_price(s, newer.id, "ANC", 2700)
        assert reg.price_for(s, priced["other"], "ANC", date(2026, 6, 30)).amount == 2500
        assert reg.price_for(s, priced["other"], "ANC", date(2026, 7, 1)).amount == 2700
        assert reg.price_for(s, priced["hc"], "ANC", date(2026, 7, 1)).amount == 3000
        with pytest.raises(NotFound):
            reg.price_for(s, 999999, "ANC", date(2026, 7, 1))
        with pytest.raises(NotFound):
            reg.price_for(s, priced["hc"], "NOPE", date(2026, 7, 1))


def test_price_list_lines_and_changes_are_audited(tenant, priced):
    with tenant.session() as s:
        plist = reg.get_price_list(s, priced["own"])
        assert plist.currency == "XAF" and plist.facility_id == priced["hc"]
        reg.set_price(s, plist.id, "ANC", 3200)
        reg.set_price(s, plist.id, "ANC", 3200)  # same price: no new entry
        with pytest.raises(ValidationError) as err:
            reg.set_price(s, plist.id, "NOPE", 10)
        assert list(err.value.errors) == ["entry"]
        with pytest.raises(ValidationError) as err:
            reg.set_price(s, plist.id, "ANC", -1)
        assert list(err.value.errors) == ["price"]
        assert [(pl.entry.code, pl.line.price) for pl in reg.price_lines(s, plist.id)] == [("ANC", 3200)]
        reg.remove_price(s, plist.id, "ANC")
        with pytest.raises(NotFound):
            reg.remove_price(s, plist.id, "ANC")
        with pytest.raises(ValidationError) as err:
            reg.update_price_list(s, plist.id, valid_to="2026-02-01")
        assert err.value.errors == {"valid_to": ["The end cannot be before the start."]}
        with pytest.raises(ValidationError) as err:
            reg.create_price_list(s, code="Z", name="Z", valid_from=None, facility_id=999999)
        assert set(err.value.errors) == {"valid_from", "facility_id"}
        with pytest.raises(Conflict):
            reg.create_price_list(s, code="NAT-2026", name="Again", valid_from="2026-01-01")
        assert [p.code for p in reg.list_price_lists(s, facility_id=None)] == ["NAT-2026"]
        assert [p.code for p in reg.list_price_lists(s, valid_on=date(2026, 2, 1))] == ["NAT-2026"]
        reg.delete_price_list(s, priced["shared"])
        with pytest.raises(NotFound):
            reg.get_price_list(s, priced["shared"])
    entries = audit_entries(tenant, "price_list")
    assert [(e.action, e.entity_id) for e in entries][-3:] == [
        ("set_price", str(priced["own"])), ("remove_price", str(priced["own"])), ("delete", str(priced["shared"]))]
    set_price = [e for e in entries if e.action == "set_price"][-1]
    assert (set_price.before, set_price.after) == ({"entry": "ANC", "price": 3000},
                                                   {"entry": "ANC", "price": 3200, "currency": "XAF"})
    removed = [e for e in entries if e.action == "remove_price"]
    assert [r.before for r in removed] == [{"entry": "ANC", "price": 3200}]
    deleted = [e for e in entries if e.action == "delete"]
    assert deleted[0].details == {"lines": 2} and deleted[0].before["code"] == "NAT-2026"


def test_money_helpers_follow_the_currency_minor_unit():
    assert money.to_minor("1 500", "XAF") == 1500 and money.to_minor("1,500.50", "TZS") == 150050
    assert money.to_minor("12,5", "TZS") == 1250
    with pytest.raises(ValueError):
        money.to_minor("1.5", "XAF")
    with pytest.raises(ValueError):
        money.to_minor("abc", "TZS")
    assert str(money.from_minor(150050, "TZS")) == "1500.50"
    assert (money.round_minor(Decimal("2.5")), money.round_minor(Decimal("3.5"))) == (2, 4)  # half-even
    assert money.format_money(1500, "XAF", "fr").replace("\u202f", " ").replace("\xa0", " ") == "1 500 FCFA"
