"""Exports: round trip with the import, filters, location restriction, API and CLI."""

from __future__ import annotations

import io

from schemehost.tenants.registry.people import Individual

from ._imports_support import count, run_file

HEADER = ("external_id,household_external_id,relationship,given_name,family_name,other_names,sex,birth_date,"
          "birth_date_estimated,national_id,phone,village,scheme_number,status\n")
ROWS = ("P1,H1,head,Amina,Njoya,,female,1980-01-02,false,ID-1,+237699123456,N-R-T-U,S-1,active\n"
        "P2,H1,child,Éloïse,Njoya,Grâce,female,2010-03-04,true,,,N-R-T-U,S-2,active\n"
        "P3,,,Jean,Fotso,,male,1975-12-31,false,ID-3,,N-R-T-L,S-3,inactive\n")


def _export(tenant, name, fmt="csv", filters=None, principal=None):
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.registry.services import exports

    principal = principal or Principal(kind="user", id="1", name="t", tenant_id=tenant.id, permissions=frozenset())
    with tenant.session() as s:
        return b"".join(exports.stream_export(s, name, fmt, principal=principal, filters=filters or {}))


def test_import_then_export_gives_the_same_data(tenant, tree):
    out, problems = run_file(tenant, "individuals", (HEADER + ROWS).encode())
    assert problems == [] and out["counts"]["created"] == 3
    exported = _export(tenant, "individuals").decode("utf-8-sig").replace("\r\n", "\n")
    assert exported == HEADER + ROWS
    # and the exported file imports again unchanged
    out, problems = run_file(tenant, "individuals", exported.encode("utf-8-sig"))
    assert problems == [] and out["counts"]["unchanged"] == 3
    loc = "code,name,parent,level,male_population,female_population,other_population,families\n"
    assert _export(tenant, "locations").decode("utf-8-sig").replace("\r\n", "\n").startswith(
        loc + "N,North,,Region,,,,\n")


def test_xlsx_export_round_trips(tenant, tree):
    run_file(tenant, "individuals", (HEADER + ROWS).encode())
    data = _export(tenant, "individuals", "xlsx")
    out, problems = run_file(tenant, "individuals", data, filename="people.xlsx")
    assert problems == [] and out["counts"]["unchanged"] == 3 and count(tenant, Individual) == 3


def test_filters_and_location_restriction(tenant, tree):
    from schemehost.tenants.identity.principal import Principal

    run_file(tenant, "individuals", (HEADER + ROWS).encode())
    only_upper = _export(tenant, "individuals", filters={"within": tree["N-R-T-U"]}).decode("utf-8-sig")
    assert "P1" in only_upper and "P3" not in only_upper
    restricted = Principal(kind="user", id="2", name="r", tenant_id=tenant.id, permissions=frozenset(),
                           location_ids=frozenset({tree["N-R-T-L"]}))
    text = _export(tenant, "individuals", principal=restricted).decode("utf-8-sig")
    assert "P3" in text and "P1" not in text and "P2" not in text
    inactive = _export(tenant, "individuals", filters={"status": "inactive"}).decode("utf-8-sig")
    assert "P3" in inactive and "P1" not in inactive


def test_api_import_export_permissions_and_other_tenants(tenant, tree, make_tenant, client_token, client, app):
    slug = tenant.slug
    app.config["REGISTRY_IMPORTS_INLINE"] = True
    try:
        def post(token, content=(HEADER + ROWS).encode(), **form):
            data = {"kind": "individuals", "file": (io.BytesIO(content), "people.csv"), **form}
            return client.post(f"/t/{slug}/api/v1/imports", data=data, content_type="multipart/form-data",
                               headers={"Authorization": f"Bearer {token}"} if token else {})

        assert post(None).status_code == 401
        reader = client_token(tenant, scopes=("registry.read",))
        assert post(reader).status_code == 403
        importer = client_token(tenant, scopes=("registry.import", "registry.read"))
        resp = post(importer, dry_run="true")
        assert resp.status_code == 202, resp.get_data(as_text=True)
        assert resp.json["status"] == "checked" and resp.json["problem_count"] == 0
        bad = post(importer, content=(HEADER + ROWS.replace("1980-01-02", "1980-02-30")).encode())
        assert bad.json["status"] == "rejected"
        assert bad.json["problems"][0]["row"] == 2 and bad.json["problems"][0]["column"] == "birth_date"
        auth = {"Authorization": f"Bearer {importer}"}
        report = client.get(bad.json["report_url"], headers=auth)
        assert report.status_code == 200 and "birth_date" in report.get_data(as_text=True)
        got = client.get(f"/t/{slug}/api/v1/imports/{bad.json['id']}", headers=auth)
        assert got.status_code == 200 and got.json["status"] == "rejected"
        assert count(tenant, Individual) == 0
        ok = post(importer)
        assert ok.json["status"] == "done" and ok.json["counts"]["created"] == 3
        export = client.get(f"/t/{slug}/api/v1/exports/individuals.csv", headers=auth)
        assert export.status_code == 200 and export.get_data().decode("utf-8-sig").replace("\r\n", "\n") == HEADER + ROWS
        assert client.get(f"/t/{slug}/api/v1/exports/people.csv", headers=auth).status_code == 422
        template = client.get(f"/t/{slug}/api/v1/import-templates/individuals.xlsx", headers=auth)
        assert template.status_code == 200 and template.data[:2] == b"PK"
        # another tenant's token and ids: refused, never data
        other = make_tenant("blank")
        foreign = client_token(other, scopes=("registry.import", "registry.read"))
        assert client.get(f"/t/{slug}/api/v1/imports/{ok.json['id']}",
                          headers={"Authorization": f"Bearer {foreign}"}).status_code in (401, 403)
        assert client.get(f"/t/{other.slug}/api/v1/imports/{ok.json['id']}",
                          headers={"Authorization": f"Bearer {foreign}"}).status_code == 404
    finally:
        app.config.pop("REGISTRY_IMPORTS_INLINE", None)


def test_cli_import_exit_codes_and_json(tenant, tree, runner, tmp_path):
    import json

    good = tmp_path / "people.csv"
    good.write_bytes((HEADER + ROWS).encode())
    result = runner("registry", "import", tenant.slug, str(good), "--kind", "individuals", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "checked"
    bad = tmp_path / "bad.csv"
    bad.write_bytes((HEADER + ROWS.replace("N-R-T-L", "NOWHERE")).encode())
    result = runner("registry", "import", tenant.slug, str(bad), "--json")
    assert result.exit_code == 2
    data = json.loads(result.output)
    assert data["status"] == "rejected" and data["problems"][0]["column"] == "village"
    result = runner("registry", "import", tenant.slug, str(good))
    assert result.exit_code == 0 and "done" in result.output
    out = tmp_path / "out.csv"
    assert runner("registry", "export", tenant.slug, "individuals", str(out)).exit_code == 0
    assert out.read_bytes().decode("utf-8-sig").replace("\r\n", "\n") == HEADER + ROWS
