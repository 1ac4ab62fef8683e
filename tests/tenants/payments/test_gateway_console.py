"""The gateway form of the payments console: creates and changes a gateway, keys write-only (never put
back into the page, encrypted at rest, a blank field keeps a key, a ticked box removes it), field errors
on the page, and only for payments.gateways.manage."""

from __future__ import annotations

import re

from sqlalchemy import select

from schemehost.tenants.payments.models import PaymentGateway
from tests.tenants.test_audit import sign_in_tenant_user


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_gateway_form_saves_settings_and_keeps_keys_write_only(app, pay_tenant, key_pairs, tenant_user):
    (ours_private, ours_public), (_gw_private, gw_public) = key_pairs
    tenant = pay_tenant
    _uid, email, password = tenant_user(tenant, roles=("tenant_admin",))
    browser = app.test_client()
    sign_in_tenant_user(browser, tenant, email, password)
    base = f"/t/{tenant.slug}/payments"
    token = _csrf(browser.get(f"{base}/gateways/new").get_data(as_text=True))
    form = {"csrf_token": token, "code": "gepg", "name": "GePG", "kind": "control_number", "base_url": "ftp://x",
            "sp_code": "SP100", "signature": "rsa-sha256", "timeout_s": "10", "active": "1",
            "option_timezone": "Africa/Dar_es_Salaam", "option_bill_prefix": "CT", "option_tolerance_s": "abc",
            "secret_private_key": ours_private, "secret_gateway_public_key": gw_public}
    bad = browser.post(f"{base}/gateways/new", data=form)
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "options.tolerance_s" in html
    assert "BEGIN PRIVATE KEY" not in html  # a refused form does not echo the keys
    form.update(option_tolerance_s="300")
    bad = browser.post(f"{base}/gateways/new", data=form)
    assert bad.status_code == 422 and "base_url" in bad.get_data(as_text=True)
    form.update(base_url="https://gateway.example/api")
    saved = browser.post(f"{base}/gateways/new", data=form, follow_redirects=True)
    html = saved.get_data(as_text=True)
    assert saved.status_code == 200 and "Gateway gepg saved" in html
    assert "BEGIN PRIVATE KEY" not in html and ours_public.splitlines()[1] in html  # our public key, to hand over
    assert 'data-key="private_key" data-set="yes"' in html and 'data-key="hmac_secret" data-set="no"' in html
    assert "/payments/callbacks/gepg" in html
    with tenant.session() as s:
        row = s.execute(select(PaymentGateway).where(PaymentGateway.code == "gepg")).scalar_one()
        assert "PRIVATE KEY" not in str(row.secret) and row.options == {
            "timezone": "Africa/Dar_es_Salaam", "bill_prefix": "CT", "tolerance_s": 300}
    taken = browser.post(f"{base}/gateways/new", data=form)
    assert taken.status_code == 409

    # a change with the key fields blank keeps the keys; switching to HMAC needs its secret
    change = {"csrf_token": token, "name": "GePG (test)", "kind": "control_number",
              "base_url": "https://gateway.example/api", "sp_code": "SP100", "signature": "hmac-sha256",
              "timeout_s": "15", "active": "1", "option_timezone": "Africa/Dar_es_Salaam"}
    needs = browser.post(f"{base}/gateways/gepg", data=change)
    assert needs.status_code == 422 and "hmac_secret" in needs.get_data(as_text=True)
    change.update(signature="rsa-sha256")
    kept = browser.post(f"{base}/gateways/gepg", data=change, follow_redirects=True).get_data(as_text=True)
    assert 'data-key="private_key" data-set="yes"' in kept and 'value="GePG (test)"' in kept
    removed = browser.post(f"{base}/gateways/gepg", data={**change, "signature": "hmac-sha256",
                                                           "secret_hmac_secret": "s3cret-shared",
                                                           "remove_private_key": "1"}, follow_redirects=True)
    html = removed.get_data(as_text=True)
    assert 'data-key="private_key" data-set="no"' in html and 'data-key="hmac_secret" data-set="yes"' in html
    assert "s3cret-shared" not in html
    listing = browser.get(f"{base}/").get_data(as_text=True)
    assert 'href="/t/' + tenant.slug + '/payments/gateways/gepg"' in listing

    reader_id, reader_email, reader_password = tenant_user(tenant, roles=("auditor",))
    reader = app.test_client()
    sign_in_tenant_user(reader, tenant, reader_email, reader_password)
    assert reader.get(f"{base}/gateways/gepg").status_code == 403
    assert reader.post(f"{base}/gateways/gepg", data={**change, "csrf_token": _csrf(
        reader.get(f"{base}/").get_data(as_text=True))}).status_code == 403


def test_a_gateway_code_naming_a_console_page_is_refused_with_a_field_error(app, client, pay_tenant, client_token,
                                                                             tenant_user):
    tenant = pay_tenant
    # every fixed page below the console's /payments/gateways/ (today: "new") is a code no gateway may take
    pages = {rule.rule.split("/gateways/", 1)[1].split("/")[0] for rule in app.url_map.iter_rules()
             if "/payments/gateways/" in rule.rule}
    fixed = {p for p in pages if p and not p.startswith("<")}
    assert "new" in fixed
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=('payments.gateways.manage',))}"}
    body = {"name": "Mobile money", "kind": "mobile_money", "base_url": "https://mm.example/api",
            "sp_code": "SCHEME1", "signature": "hmac-sha256", "secrets": {"hmac_secret": "s3cret"}}
    for code in sorted(fixed):
        refused = client.put(f"/t/{tenant.slug}/api/v1/payments/gateways/{code}", headers=headers, json=body)
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json", code
        assert list(refused.json["errors"]) == ["code"] and "reserved" in refused.json["errors"]["code"][0]
    assert client.put(f"/t/{tenant.slug}/api/v1/payments/gateways/newer", headers=headers, json=body).status_code == 200

    _uid, email, password = tenant_user(tenant, roles=("tenant_admin",))
    browser = app.test_client()
    sign_in_tenant_user(browser, tenant, email, password)
    base = f"/t/{tenant.slug}/payments"
    token = _csrf(browser.get(f"{base}/gateways/new").get_data(as_text=True))
    form = {"csrf_token": token, "code": "new", "name": "Mobile money", "kind": "mobile_money",
            "base_url": "https://mm.example/api", "sp_code": "SCHEME1", "signature": "hmac-sha256", "timeout_s": "10",
            "active": "1", "secret_hmac_secret": "s3cret"}
    page = browser.post(f"{base}/gateways/new", data=form)
    assert page.status_code == 422 and "is reserved" in page.get_data(as_text=True)
    with tenant.session() as s:
        codes = set(s.execute(select(PaymentGateway.code)).scalars())
    assert codes == {"newer"}
