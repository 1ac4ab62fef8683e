"""Templates: validation with field paths, list/show CLI, review and apply of a newer version."""

import json

import pytest
import yaml

from schemehost.platform.errors import ValidationError
from schemehost.provisioning.templates import available, load_path, load_template, parse
from schemehost.provisioning.templates.review import Kind, applied_settings, template_changes

SHIPPED = ["blank", "cash-transfer", "employment-injury", "health-insurance", "maternal-voucher"]

GOOD = {
    "name": "pilot",
    "version": 1,
    "title": "Pilot scheme",
    "description": "A small scheme for tests.",
    "currency": "XAF",
    "locale": "fr",
    "timezone": "Africa/Douala",
    "location_levels": ["Region", "District"],
    "modules": ["registry"],
    "roles": [
        {"code": "tenant_admin", "name": "Admin", "permissions": ["*"]},
        {"code": "read_only", "name": "Read-only", "permissions": ["registry.read"]},
    ],
    "settings": {"registry": {"deduplication": "flag"}, "fees": {"card": 100}},
    "demo": {
        "locations": [
            {"code": "R1", "name": "North", "level": "Region"},
            {"code": "R1-D1", "name": "River", "level": "District", "parent": "R1"},
        ],
        "facilities": [{"code": "HC1", "name": "Health centre", "kind": "health_centre", "location": "R1-D1"}],
    },
}


def doc(**changes):
    data = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = data
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is ...:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return yaml.safe_dump(data, allow_unicode=True)


def problems(text, source="pilot.yaml", name="pilot"):
    with pytest.raises(ValidationError) as exc:
        parse(text, source, name=name)
    assert source in exc.value.detail
    return exc.value.errors


# ---- shipped templates --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_template_validates(name):
    assert name in available()
    tpl = load_template(name)
    assert tpl.name == name and tpl.version >= 1 and tpl.title and tpl.description
    assert "tenant_admin" in {r["code"] for r in tpl.roles}
    levels = tpl.location_levels
    placed = {loc["level"] for loc in tpl.demo["locations"]}
    assert placed == set(levels), "demo data has locations on every level"
    settings = tpl.tenant_settings()
    assert settings["template"] == {"name": name, "version": tpl.version, "baseline": tpl.defaults()}
    assert settings["currency"] == tpl.currency and settings["modules"] == tpl.modules


def test_shipped_templates_have_the_agreed_basics():
    mv, ei, ct = load_template("maternal-voucher"), load_template("employment-injury"), load_template("cash-transfer")
    assert (mv.currency, mv.locale, mv.timezone) == ("XAF", "fr", "Africa/Douala")
    assert mv.modules == ["registry", "vouchers", "payments"] and len(mv.location_levels) == 4
    assert ei.modules == ["registry", "insurance", "payments"]
    assert any(o["kind"] == "employer" for o in ei.demo["organisations"])
    assert (ct.currency, ct.locale, ct.timezone) == ("GMD", "en", "Africa/Banjul")
    assert ct.modules == ["registry", "transfers", "payments"]


def test_good_document_parses():
    tpl = parse(doc(), "pilot.yaml", name="pilot")
    assert tpl.currency == "XAF" and tpl.demo["facilities"][0]["code"] == "HC1"


# ---- each kind of bad template names its field ---------------------------------------------------


def test_bad_yaml_names_the_line():
    with pytest.raises(ValidationError) as exc:
        parse("name: pilot\nroles: [\n", "pilot.yaml")
    assert "pilot.yaml" in exc.value.detail and "not valid YAML" in exc.value.detail
    assert any(k.startswith("line ") for k in exc.value.errors)


def test_not_a_mapping():
    assert "(top)" in problems("- just\n- a list\n")


@pytest.mark.parametrize("field", ["version", "title", "description", "currency", "timezone", "roles"])
def test_missing_field(field):
    errors = problems(doc(**{field: ...}))
    assert errors == {field: ["this field is required"]}


def test_unknown_field_and_wrong_types():
    errors = problems(doc(colour="blue", version="two", location_levels="Region"))
    assert "unknown field" in errors["colour"][0]
    assert "version" in errors and "location_levels" in errors


def test_unknown_module():
    errors = problems(doc(modules=["registry", "billing"]))
    assert "'billing' is not one of" in errors["modules[1]"][0]


def test_module_needs_registry():
    errors = problems(doc(modules=["vouchers"], roles=[{"code": "tenant_admin", "name": "A", "permissions": []}]))
    assert "needs module 'registry'" in errors["modules[0]"][0]


@pytest.mark.parametrize("code", ["ABC", "DEM", "XXX"])
def test_bad_currency(code):
    errors = problems(doc(currency=code))
    assert errors == {"currency": [f"'{code}' is not a current ISO 4217 currency code"]}


def test_lowercase_currency_gets_the_format_hint():
    assert "three-letter ISO 4217 code" in problems(doc(currency="xaf"))["currency"][0]


@pytest.mark.parametrize("zone", ["Africa/Atlantis", "CET+1", "africa/douala"])
def test_bad_timezone(zone):
    errors = problems(doc(timezone=zone))
    assert list(errors) == ["timezone"] and "IANA time zone" in errors["timezone"][0]


def test_duplicate_role():
    roles = GOOD["roles"] + [{"code": "read_only", "name": "Again", "permissions": []}]
    errors = problems(doc(roles=roles))
    assert errors == {"roles[2].code": ["role code 'read_only' is already used by roles[1]"]}


def test_unknown_permission_and_permission_of_a_disabled_module():
    roles = [GOOD["roles"][0], {"code": "read_only", "name": "R", "permissions": ["registry.read", "registry.fly",
                                                                                  "vouchers.redeem"]}]
    errors = problems(doc(roles=roles))
    assert errors["roles[1].permissions[1]"] == ["unknown permission 'registry.fly'"]
    assert "needs module 'vouchers'" in errors["roles[1].permissions[2]"][0]


def test_tenant_admin_role_required_and_role_code_format():
    errors = problems(doc(roles=[{"code": "Boss", "name": "B", "permissions": ["*"]}]))
    assert "role code is lowercase" in errors["roles[0].code"][0]
    errors = problems(doc(roles=[{"code": "boss", "name": "B", "permissions": ["*"]}]))
    assert errors == {"roles": ["a template needs a 'tenant_admin' role"]}


def test_name_must_match_the_file(tmp_path):
    errors = problems(doc(), name="other")
    assert errors == {"name": ["declares 'pilot' but the file is named 'other.yaml'"]}
    path = tmp_path / "renamed.yaml"
    path.write_text(doc())
    with pytest.raises(ValidationError) as exc:
        load_path(path)
    assert "renamed.yaml" in exc.value.detail and "name" in exc.value.errors


def test_settings_cannot_shadow_template_fields():
    errors = problems(doc(settings={"currency": "EUR"}))
    assert "settings.currency" in errors


def test_unquoted_yes_no_gets_a_hint():
    text = doc().replace("code: R1\n", "code: no\n").replace("parent: R1\n", "parent: no\n")
    errors = problems(text)
    assert "quote it" in errors["demo.locations[0].code"][0]


def test_demo_locations_form_a_tree_on_the_levels():
    locations = [
        {"code": "R1", "name": "North", "level": "Region"},
        {"code": "R1", "name": "Twice", "level": "Region"},
        {"code": "D0", "name": "Orphan", "level": "District"},
        {"code": "D1", "name": "Ahead", "level": "District", "parent": "D9"},
        {"code": "X1", "name": "Nowhere", "level": "Province", "parent": "R1"},
        {"code": "R2", "name": "Same level", "level": "Region", "parent": "R1"},
    ]
    errors = problems(doc(demo__locations=locations, demo__facilities=[
        {"code": "HC1", "name": "H", "kind": "health_centre", "location": "ZZ"},
        {"code": "HC1", "name": "H", "kind": "hospital", "location": "R1"},
    ]))
    assert "used twice" in errors["demo.locations[1].code"][0]
    assert "needs a parent" in errors["demo.locations[2].parent"][0]
    assert "listed before" in errors["demo.locations[3].parent"][0]
    assert "not one of the location levels" in errors["demo.locations[4].level"][0]
    assert "below its parent" in errors["demo.locations[5].level"][0]
    assert "not a demo location" in errors["demo.facilities[0].location"][0]
    assert "used twice" in errors["demo.facilities[1].code"][0]


def test_demo_structure_is_validated():
    errors = problems(doc(demo={"locations": [], "households": 3,
                                "facilities": [{"code": "F", "name": "F", "kind": "spa", "location": "R1"}],
                                "programmes": [{"code": "P", "name": "P", "module": "transfers"}]}))
    assert "unknown field" in errors["demo.households"][0]
    assert "'spa' is not one of" in errors["demo.facilities[0].kind"][0]
    errors = problems(doc(demo={"programmes": [{"code": "P", "name": "P", "module": "transfers"}]}))
    assert errors == {"demo.programmes[0].module": ["module 'transfers' is not enabled by this template"]}


def test_every_problem_is_reported_at_once():
    errors = problems(doc(currency="ABC", timezone="Nowhere/Land",
                          roles=GOOD["roles"] + [{"code": "read_only", "name": "x", "permissions": ["nope"]}]))
    assert {"currency", "timezone", "roles[2].code", "roles[2].permissions[0]"} <= set(errors)


def test_unknown_template_lists_the_available_ones():
    for bad in ["nope", "../blank", ""]:
        with pytest.raises(ValidationError) as exc:
            load_template(bad)
        assert "blank" in exc.value.detail and "template" in exc.value.errors


# ---- template_changes: what a newer version adds, what it never touches ---------------------------


def v2(**changes):
    return parse(doc(version=2, **changes), "pilot.yaml", name="pilot")


def started_from_v1():
    return parse(doc(), "pilot.yaml", name="pilot").tenant_settings()


def kinds(changes):
    return {(c.kind, c.where, json.dumps(c.value, sort_keys=True), c.applicable) for c in changes}


def test_same_version_has_no_changes():
    current = started_from_v1()
    assert template_changes(current, parse(doc(), "pilot.yaml")) == []
    assert template_changes(current, v2()) == []  # newer version, nothing different


def test_additions_are_applicable():
    roles = json.loads(json.dumps(GOOD["roles"]))
    roles[1]["permissions"].append("reports.read")
    roles.append({"code": "payment_officer", "name": "Payer", "permissions": ["payments.read"]})
    new = v2(modules=["registry", "payments"], roles=roles, location_levels=["Region", "District", "Village"],
             settings={"registry": {"deduplication": "flag", "fuzzy": True}, "fees": {"card": 100},
                       "payments": {"cycle": "monthly"}})
    changes = template_changes(started_from_v1(), new)
    assert kinds(changes) == {
        (Kind.module_added, "modules", '"payments"', True),
        (Kind.permission_added, "roles.read_only.permissions", '"reports.read"', True),
        (Kind.role_added, "roles.payment_officer", json.dumps(roles[2], sort_keys=True), True),
        (Kind.location_level_added, "location_levels", '"Village"', True),
        (Kind.setting_added, "registry.fuzzy", "true", True),
        (Kind.setting_added, "payments", '{"cycle": "monthly"}', True),
    }
    out = applied_settings(started_from_v1(), new, changes)
    assert out["modules"] == ["registry", "payments"]
    assert out["location_levels"] == ["Region", "District", "Village"]
    assert out["registry"] == {"deduplication": "flag", "fuzzy": True} and out["payments"] == {"cycle": "monthly"}
    assert [r["code"] for r in out["roles"]] == ["tenant_admin", "read_only", "payment_officer"]
    assert out["roles"][1]["permissions"] == ["registry.read", "reports.read"]
    assert out["template"] == {"name": "pilot", "version": 2, "baseline": new.defaults()}
    assert "fees" not in out and "currency" not in out, "untouched rows are not rewritten"


def test_changed_defaults_are_shown_never_applied():
    current = started_from_v1()
    current["registry"] = {"deduplication": "off"}  # the tenant admin changed it
    new = v2(currency="EUR", timezone="Africa/Lagos",
             settings={"registry": {"deduplication": "block"}, "fees": {"card": 200}})
    changes = template_changes(current, new)
    by_where = {c.where: c for c in changes}
    assert set(by_where) == {"currency", "timezone", "registry.deduplication", "fees.card"}
    assert all(c.kind == Kind.default_changed and not c.applicable for c in changes)
    assert by_where["registry.deduplication"].current == "off"
    assert "changed it" in by_where["registry.deduplication"].note
    assert "previous default" in by_where["fees.card"].note
    out = applied_settings(current, new, changes)
    assert set(out) == {"template"}


def test_values_the_tenant_admin_changed_are_kept_when_the_template_did_not_change_them():
    current = started_from_v1()
    current["fees"] = {"card": 999}
    current["modules"] = ["registry", "interop"]
    current["location_levels"] = ["Province", "County"]
    assert template_changes(current, v2()) == []


def test_removed_by_the_tenant_stays_removed():
    current = started_from_v1()
    current["roles"] = [r for r in current["roles"] if r["code"] != "read_only"]
    del current["fees"]
    assert template_changes(current, v2()) == []


def test_removed_by_the_template_is_only_reported():
    roles = [GOOD["roles"][0]]
    changes = template_changes(started_from_v1(), v2(roles=roles, settings={"registry": {"deduplication": "flag"}}))
    assert {(c.kind, c.where, c.applicable) for c in changes} == {
        (Kind.removed, "roles.read_only", False), (Kind.removed, "fees", False)}


def test_location_levels_inserted_above_are_not_applied():
    changes = template_changes(started_from_v1(), v2(location_levels=["Region", "Province", "District"], demo=...))
    assert [(c.kind, c.applicable) for c in changes] == [(Kind.default_changed, False)]


def test_without_a_baseline_every_difference_is_kept():
    current = started_from_v1()
    current["template"] = {"name": "pilot", "version": 1}  # recorded before baselines existed
    current["fees"] = {"card": 150}
    changes = template_changes(current, v2(modules=["registry", "payments"]))
    assert {(c.kind, c.where, c.applicable) for c in changes} == {
        (Kind.module_added, "modules", True), (Kind.default_changed, "fees.card", False)}


# ---- CLI: list and show ------------------------------------------------------------------------


def test_list_cli(runner):
    result = runner("templates", "list")
    assert result.exit_code == 0, result.output
    for name in SHIPPED:
        assert name in result.output
    assert "registry, vouchers, payments" in result.output
    rows = json.loads(runner("templates", "list", "--json").output)
    assert [r["name"] for r in rows] == SHIPPED
    assert set(rows[0]) == {"name", "version", "title", "modules"}


def test_show_cli(runner):
    result = runner("templates", "show", "maternal-voucher")
    assert result.exit_code == 0, result.output
    assert "XAF" in result.output and "Africa/Douala" in result.output and "facility_cashier" in result.output
    data = json.loads(runner("templates", "show", "cash-transfer", "--json").output)
    assert data == load_template("cash-transfer").to_dict()
    assert data["demo"]["programmes"][0]["module"] == "transfers"


def test_show_unknown_template(runner):
    result = runner("templates", "show", "nope")
    assert result.exit_code == 1
    assert "Unknown template 'nope'" in result.output and "Traceback" not in result.output


def use_template_dir(app, monkeypatch, folder):
    """Commands with an app read the app's setting; list/show (no app needed) read the environment."""
    monkeypatch.setitem(app.config, "TEMPLATE_DIRS", str(folder))
    monkeypatch.setenv("SCHEMEHOST_TEMPLATE_DIRS", str(folder))


def test_operator_template_folder(app, runner, tmp_path, monkeypatch):
    use_template_dir(app, monkeypatch, tmp_path)
    (tmp_path / "pilot.yaml").write_text(doc())
    (tmp_path / "broken.yaml").write_text(doc(currency="ABC").replace("name: pilot", "name: broken"))
    assert "pilot" in json.dumps(json.loads(runner("templates", "show", "pilot", "--json").output))
    result = runner("templates", "list")
    assert result.exit_code == 1
    assert "broken.yaml" in result.output and "currency: 'ABC' is not a current ISO 4217" in result.output


# ---- review and apply on a real tenant -----------------------------------------------------------


@pytest.fixture
def pilot_dir(app, tmp_path, monkeypatch):
    use_template_dir(app, monkeypatch, tmp_path)
    (tmp_path / "pilot.yaml").write_text(doc())
    return tmp_path


def settings_of(pg, slug):
    schema = "tenant_" + slug.replace("-", "_")
    return dict(pg.execute(f"SELECT key, value FROM {schema}.settings").fetchall())


def events_of(pg, slug, kind):
    return pg.execute("SELECT data, actor FROM control.tenant_events WHERE tenant_slug = %s AND kind = %s",
                      (slug, kind)).fetchall()


def test_review_and_apply(runner, partner, unique, pilot_dir, pg):
    slug = unique("tpl-")
    created = runner("tenants", "create", slug, "--name", "Pilot", "--partner", partner, "--template", "pilot")
    assert created.exit_code == 0, created.output
    schema = "tenant_" + slug.replace("-", "_")
    # the tenant admin raises the card fee
    pg.execute(f"UPDATE {schema}.settings SET value = %s WHERE key = 'fees'", (json.dumps({"card": 150}),))

    up_to_date = runner("templates", "review", slug)
    assert up_to_date.exit_code == 0 and "up to date" in up_to_date.output

    roles = GOOD["roles"] + [{"code": "payment_officer", "name": "Payer", "permissions": ["payments.read"]}]
    (pilot_dir / "pilot.yaml").write_text(doc(
        version=2, currency="EUR", modules=["registry", "payments"], roles=roles,
        location_levels=["Region", "District", "Village"],
        settings={"registry": {"deduplication": "flag"}, "fees": {"card": 200, "replacement": 50}}))
    before = settings_of(pg, slug)

    review = runner("templates", "review", slug)
    assert review.exit_code == 0, review.output
    assert "version 1 -> 2" in review.output
    assert "+ module_added" in review.output and "modules: payments" in review.output
    assert "+ role_added" in review.output and "roles.payment_officer" in review.output
    assert "+ location_level_added" in review.output and "+ setting_added" in review.output
    assert "= default_changed" in review.output and "fees.card: 200 (tenant has 150)" in review.output
    assert "currency: EUR (tenant has XAF)" in review.output
    data = json.loads(runner("templates", "review", slug, "--json").output)
    assert data["tenant_version"] == 1 and data["template_version"] == 2
    assert sum(c["applicable"] for c in data["changes"]) == 4
    assert settings_of(pg, slug) == before, "review changes nothing"

    declined = runner("templates", "apply", slug, input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert settings_of(pg, slug) == before and not events_of(pg, slug, "template_applied")

    applied = runner("templates", "apply", slug, "--yes")
    assert applied.exit_code == 0, applied.output
    assert "version 2 (4 addition(s) applied)" in applied.output
    after = settings_of(pg, slug)
    assert after["modules"] == ["registry", "payments"]
    assert [r["code"] for r in after["roles"]][-1] == "payment_officer"
    assert after["location_levels"] == ["Region", "District", "Village"]
    assert after["fees"] == {"card": 150, "replacement": 50}, "the admin's value is kept, the new key added"
    assert after["currency"] == "XAF"
    assert after["template"]["version"] == 2
    version = pg.execute("SELECT template_version FROM control.tenants WHERE slug = %s", (slug,)).fetchone()[0]
    assert version == 2
    (event_data, actor), = events_of(pg, slug, "template_applied")
    assert event_data["from_version"] == 1 and event_data["to_version"] == 2 and actor == "cli"
    assert "modules payments" in event_data["applied"] and "currency" in event_data["not_applied"]

    again = runner("templates", "apply", slug, "--yes")
    assert again.exit_code == 0 and "up to date" in again.output
    assert len(events_of(pg, slug, "template_applied")) == 1
    assert "up to date" in runner("templates", "review", slug).output

    # a new tenant starts from version 2 directly
    fresh = unique("tpl-")
    assert runner("tenants", "create", fresh, "--name", "Pilot 2", "--partner", partner,
                  "--template", "pilot").exit_code == 0
    assert settings_of(pg, fresh)["currency"] == "EUR"
    assert pg.execute("SELECT template_version FROM control.tenants WHERE slug = %s", (fresh,)).fetchone()[0] == 2


def test_apply_brings_the_control_row_up_to_date(runner, partner, unique, pilot_dir, pg):
    """If the control commit was lost after the tenant's settings were written, apply finishes it."""
    slug = unique("tpl-")
    assert runner("tenants", "create", slug, "--name", "Pilot", "--partner", partner,
                  "--template", "pilot").exit_code == 0
    (pilot_dir / "pilot.yaml").write_text(doc(version=2, modules=["registry", "payments"]))
    pg.execute("UPDATE control.tenants SET template_version = 1 WHERE slug = %s", (slug,))
    assert runner("templates", "apply", slug, "--yes").exit_code == 0
    pg.execute("UPDATE control.tenants SET template_version = 1 WHERE slug = %s", (slug,))
    result = runner("templates", "apply", slug, "--yes")
    assert result.exit_code == 0, result.output
    assert pg.execute("SELECT template_version FROM control.tenants WHERE slug = %s", (slug,)).fetchone()[0] == 2
    assert settings_of(pg, slug)["modules"] == ["registry", "payments"]
    assert len(events_of(pg, slug, "template_applied")) == 2


def test_review_bad_inputs(runner, partner, unique, pg):
    result = runner("templates", "review", "no-such-tenant")
    assert result.exit_code == 1 and "no-such-tenant" in result.output
    result = runner("templates", "apply", "no-such-tenant", "--yes")
    assert result.exit_code == 1 and "no-such-tenant" in result.output
    slug = unique("tpl-")
    assert runner("tenants", "create", slug, "--name", "Arch", "--partner", partner,
                  "--template", "blank").exit_code == 0
    assert runner("tenants", "archive", slug).exit_code == 0
    result = runner("templates", "apply", slug, "--yes")
    assert result.exit_code == 1 and "archived" in result.output
    assert not events_of(pg, slug, "template_applied")
