"""The vouchers module in the registry's personal-data rules: its section of the subject-access export,
erasure keeping vouchers and redemptions (they hold no copy of personal data), and the retention hold
on holders of a live voucher."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update

from schemehost.tenants.registry import privacy
from schemehost.tenants.registry.people import Individual
from schemehost.tenants.vouchers.models import Redemption, Voucher

from .test_services import _issue, _redeem

PERSONAL = ("registry.read", "registry.write", "registry.personal_data")


def test_subject_access_has_the_vouchers_section(world, client, client_token):
    code = _issue(world, "amina")
    _redeem(world, code, "CPN")
    headers = {"Authorization": f"Bearer {client_token(world.tenant, scopes=PERSONAL)}"}
    resp = client.get(f"/t/{world.tenant.slug}/api/v1/individuals/{world.people['amina']}/subject-access",
                      headers=headers)
    assert resp.status_code == 200, resp.json
    [held] = resp.json["modules"]["vouchers"]["vouchers"]
    assert held["code"] == code and [r["service"] for r in held["redemptions"]] == ["CPN"]
    other = client.get(f"/t/{world.tenant.slug}/api/v1/individuals/{world.people['bintou']}/subject-access",
                       headers=headers)
    assert other.json["modules"]["vouchers"] == {"vouchers": []}


def test_erasure_keeps_vouchers_and_redemptions(world):
    code = _issue(world, "amina")
    _redeem(world, code, "CPN")
    with world.tenant.session() as s:
        before = s.execute(select(Voucher.status, Voucher.value).where(Voucher.code == code)).one()
        privacy.erase_individual(s, world.people["amina"], reason="request")
    with world.tenant.session() as s:
        assert s.execute(select(Voucher.status, Voucher.value).where(Voucher.code == code)).one() == before
        assert s.execute(select(func.count()).select_from(Redemption)).scalar_one() == 1


def test_retention_keeps_holders_of_a_live_voucher(world):
    _issue(world, "amina")
    old = datetime.now(timezone.utc) - timedelta(days=3 * 366)
    with world.tenant.session() as s:
        privacy.set_retention(s, inactive_years=2)
        s.execute(update(Individual).where(Individual.id.in_([world.people["amina"], world.people["clara"]]))
                  .values(status="inactive", updated_at=old))
    with world.tenant.session() as s:
        assert privacy.apply_retention(s)["erased"] == 1
        assert s.get(Individual, world.people["amina"]).status == "inactive"
        assert s.get(Individual, world.people["clara"]).status == "erased"
