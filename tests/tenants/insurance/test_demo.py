"""How template products are read (the demo data of whole pilot schemes is checked once per template
in tests/provisioning/test_insurance_templates.py)."""

from __future__ import annotations

from datetime import date

from schemehost.tenants.insurance.demo import product_input


def test_template_products_read_the_templates_short_forms():
    employer = {"code": "EII-STD", "name": "Employment injury", "module": "insurance",
                "details": {"payer": "employer", "contribution_rate": "0.014", "requires_incident": True,
                            "covers": ["medical_treatment"]}}
    assert product_input(employer, date(2027, 5, 1)) == {
        "code": "EII-STD", "name": "Employment injury", "valid_from": date(2027, 1, 1), "holder": "employer",
        "wage_rate_percent": "1.400", "requires_incident": True, "insurance_period_months": 12}
    family = {"code": "F", "name": "Family", "details": {"lump_sum": 10, "max_members": 4, "extra_member": 3,
                                                         "waiting_period_days": 7}}
    assert product_input(family, date(2027, 5, 1)) == {
        "code": "F", "name": "Family", "valid_from": date(2027, 1, 1), "lump_sum": 10, "threshold": 4,
        "max_members": None, "premium_adult": 3, "premium_child": 3, "waiting_period_days": 7,
        "insurance_period_months": 12}
