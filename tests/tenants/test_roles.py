"""Tenant roles through the services: custom roles, built-in roles, assignment, the last administrator, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.identity import roles
from schemehost.tenants.identity.models import AuditEntry, Role
from schemehost.tenants.identity.principal import user_grants


def _audit(tenant, action=None):
    with tenant.session() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return list(s.execute(stmt).scalars())


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("blank")


def test_seeded_roles_are_listed_built_in_first_with_their_users(tenant, tenant_user):
    tenant_user(tenant, roles=("tenant_admin", "auditor"))
    with tenant.session() as s:
        roles.create_role(s, "district_lead", "District lead", ["registry.read"])
        listed = roles.list_roles(s)
    codes = [r.code for r in listed]
    assert codes[-1] == "district_lead" and set(codes[:-1]) == {"tenant_admin", "enrolment_officer", "auditor",
                                                                "read_only"}
    by_code = {r.code: r for r in listed}
    assert by_code["tenant_admin"].builtin and by_code["tenant_admin"].users == 1
    assert by_code["auditor"].users == 1 and by_code["read_only"].users == 0
    assert not by_code["district_lead"].builtin


def test_create_custom_role_is_audited_and_grants_its_permissions(tenant, tenant_user):
    user_id, _e, _p = tenant_user(tenant, roles=())
    with tenant.session() as s:
        role = roles.create_role(s, "district_lead", " District lead ", ["registry.read", "registry.write",
                                                                        "registry.read"])
        assert role.permissions == ["registry.read", "registry.write"] and role.name == "District lead"
        roles.set_user_roles(s, user_id, ["district_lead"])
        perms, _locs = user_grants(s, user_id)
    assert perms == {"registry.read", "registry.write"}
    entry = _audit(tenant, "create")[-1]
    assert (entry.entity_type, entry.entity_id) == ("role", "district_lead")
    assert entry.after == {"code": "district_lead", "name": "District lead",
                           "permissions": ["registry.read", "registry.write"]}


@pytest.mark.parametrize("code", ["", "A_role", "1abc", "x", "has-dash", "a" * 61, "tenant_admin", "payment_officer"])
def test_create_refuses_bad_or_reserved_codes(tenant, code):
    with tenant.session() as s, pytest.raises(ValidationError) as err:
        roles.create_role(s, code, "Name", [])
    assert list(err.value.errors) == ["code"]


def test_create_reports_each_bad_permission_by_index_and_changes_nothing(tenant):
    with tenant.session() as s, pytest.raises(ValidationError) as err:
        roles.create_role(s, "cashier", "", ["registry.read", "claims.submit", "no.such", "*", 7])
    errors = err.value.errors
    assert set(errors) == {"name", "permissions"}
    assert set(errors["permissions"]) == {1, 2, 3, 4}
    assert "insurance" in errors["permissions"][1][0]  # the module it needs is not enabled
    assert "no.such" in errors["permissions"][2][0]
    with tenant.session() as s:
        assert s.execute(select(Role).where(Role.code == "cashier")).first() is None
    assert _audit(tenant) == []


def test_permissions_follow_the_tenants_modules(make_tenant):
    tenant = make_tenant("health-insurance")
    with tenant.session() as s:
        role = roles.create_role(s, "claims_clerk", "Claims clerk", ["claims.submit", "payments.read"])
        names = {p.name for p in roles.available_permissions(s)}
        with pytest.raises(ValidationError) as err:
            roles.create_role(s, "voucher_clerk", "Voucher clerk", ["vouchers.redeem"])
    assert role.permissions == ["claims.submit", "payments.read"]
    assert {"claims.submit", "users.manage", "interop.manage"} <= names and "vouchers.redeem" not in names
    assert "vouchers" in err.value.errors["permissions"][0][0]


def test_create_refuses_a_taken_code_with_409(tenant):
    with tenant.session() as s:
        roles.create_role(s, "district_lead", "District lead", [])
    with tenant.session() as s, pytest.raises(Conflict) as err:
        roles.create_role(s, "district_lead", "Another", [])
    assert "code" in err.value.errors


def test_update_renames_and_changes_built_in_roles_except_the_admins_permissions(tenant):
    with tenant.session() as s:
        auditor = roles.update_role(s, "auditor", name="Inspector", permissions=["audit.read"])
        assert (auditor.name, auditor.permissions) == ("Inspector", ["audit.read"])
        admin = roles.update_role(s, "tenant_admin", name="Scheme administrator")
        assert admin.permissions == ["*"]
        with pytest.raises(ValidationError) as err:
            roles.update_role(s, "tenant_admin", permissions=["registry.read"])
    assert "permissions" in err.value.errors
    with tenant.session() as s:
        with pytest.raises(ValidationError) as err:
            roles.update_role(s, "read_only", name="  ", permissions=["nope"])
        assert set(err.value.errors) == {"name", "permissions"}
        with pytest.raises(NotFound):
            roles.update_role(s, "ghost", name="Ghost")
    updates = _audit(tenant, "update")
    assert [(e.entity_id, e.before["name"], e.after["name"]) for e in updates] == [
        ("auditor", "Auditor", "Inspector"), ("tenant_admin", "Tenant administrator", "Scheme administrator")]
    assert updates[0].before["permissions"] == ["audit.read", "reports.read", "registry.read"]
    assert updates[0].after["permissions"] == ["audit.read"]


def test_update_without_a_change_writes_no_audit_entry(tenant):
    with tenant.session() as s:
        roles.update_role(s, "read_only", name="Read-only", permissions=["registry.read"])
    assert _audit(tenant) == []


def test_delete_only_unassigned_custom_roles(tenant, tenant_user):
    user_id, _e, _p = tenant_user(tenant, roles=("tenant_admin",))
    with tenant.session() as s:
        roles.create_role(s, "temp", "Temporary", [])
        roles.create_role(s, "held", "Held", [])
        roles.set_user_roles(s, user_id, ["tenant_admin", "held"])
    with tenant.session() as s:
        with pytest.raises(Conflict) as builtin:
            roles.delete_role(s, "auditor")
        with pytest.raises(Conflict) as held:
            roles.delete_role(s, "held")
        with pytest.raises(NotFound):
            roles.delete_role(s, "ghost")
    assert "code" in builtin.value.errors and held.value.extra["users"] == 1
    with tenant.session() as s:
        roles.delete_role(s, "temp")
        assert {r.code for r in roles.list_roles(s)} >= {"auditor", "held"}
        assert "temp" not in {r.code for r in roles.list_roles(s)}
    deleted = _audit(tenant, "delete")
    assert [(e.entity_id, e.before["name"]) for e in deleted] == [("temp", "Temporary")]


def test_set_user_roles_is_audited_with_before_and_after(tenant, tenant_user):
    admin_id, _e, _p = tenant_user(tenant, roles=("tenant_admin",))
    user_id, _e, _p = tenant_user(tenant, roles=("read_only",))
    with tenant.session() as s:
        assert roles.set_user_roles(s, user_id, ["auditor", "enrolment_officer", "auditor"]) == [
            "auditor", "enrolment_officer"]
        assert roles.set_user_roles(s, user_id, ["enrolment_officer", "auditor"]) == [
            "auditor", "enrolment_officer"]  # unchanged: no second entry
        perms, _locs = user_grants(s, user_id)
    assert "registry.write" in perms and "audit.read" in perms
    changes = _audit(tenant, "role_change")
    assert [(c.entity_type, c.entity_id, c.before, c.after) for c in changes] == [
        ("user", str(user_id), {"roles": ["read_only"]}, {"roles": ["auditor", "enrolment_officer"]})]


def test_set_user_roles_refuses_unknown_roles_and_users(tenant, tenant_user):
    tenant_user(tenant, roles=("tenant_admin",))
    user_id, _e, _p = tenant_user(tenant, roles=("read_only",))
    with tenant.session() as s:
        with pytest.raises(ValidationError) as err:
            roles.set_user_roles(s, user_id, ["auditor", "ghost"])
        assert err.value.errors == {"roles": {1: ["unknown role 'ghost'"]}}
        with pytest.raises(ValidationError):
            roles.set_user_roles(s, user_id, "auditor")
        with pytest.raises(NotFound):
            roles.set_user_roles(s, 999999, ["auditor"])
        assert roles.user_role_codes(s, user_id) == ["read_only"]


def test_the_last_active_admin_keeps_the_role(tenant, tenant_user, pg):
    first, _e, _p = tenant_user(tenant, roles=("tenant_admin",))
    with tenant.session() as s, pytest.raises(Conflict) as err:
        roles.set_user_roles(s, first, ["auditor"])
    assert "roles" in err.value.errors
    second, _e, _p = tenant_user(tenant, roles=("read_only",))
    with tenant.session() as s:
        roles.set_user_roles(s, second, ["tenant_admin"])
        roles.set_user_roles(s, first, ["auditor"])  # another admin remains
    # an inactive admin does not count
    pg.execute(f"UPDATE {tenant.schema}.users SET is_active = false WHERE id = %s", (first,))
    with tenant.session() as s:
        roles.set_user_roles(s, first, ["tenant_admin"])
        with pytest.raises(Conflict):
            roles.set_user_roles(s, second, [])
    with tenant.session() as s:
        assert roles.user_role_codes(s, second) == ["tenant_admin"]


def test_set_user_locations_is_validated_and_audited(tenant, tenant_user):
    tenant_user(tenant, roles=("tenant_admin",))
    user_id, _e, _p = tenant_user(tenant, roles=("read_only",))
    with tenant.session() as s:
        with pytest.raises(ValidationError) as err:
            roles.set_user_locations(s, user_id, [3, "4", -1, True, 2**40])
        assert set(err.value.errors["locations"]) == {1, 2, 3, 4}
        assert roles.set_user_locations(s, user_id, [7, 3, 7]) == [3, 7]
        _perms, locs = user_grants(s, user_id)
        assert locs == {3, 7}
        assert roles.set_user_locations(s, user_id, []) == []
        with pytest.raises(NotFound):
            roles.set_user_locations(s, 999999, [1])
    changes = _audit(tenant, "location_change")
    assert [(c.before, c.after) for c in changes] == [({"locations": []}, {"locations": [3, 7]}),
                                                     ({"locations": [3, 7]}, {"locations": []})]


def test_two_admins_demoting_each_other_at_once_leave_one(tenant, tenant_user):
    import threading

    first, _e, _p = tenant_user(tenant, roles=("tenant_admin",))
    second, _e, _p = tenant_user(tenant, roles=("tenant_admin",))
    outcome = {}

    def demote_second():
        try:
            with tenant.session() as s:
                roles.set_user_roles(s, second, ["auditor"])
            outcome["second"] = "demoted"
        except Conflict:
            outcome["second"] = "refused"

    with tenant.session() as s:
        roles.set_user_roles(s, first, ["auditor"])  # holds the administrators' lock until commit
        other = threading.Thread(target=demote_second)
        other.start()
    other.join(timeout=60)
    assert outcome == {"second": "refused"}
    with tenant.session() as s:
        assert roles.user_role_codes(s, second) == ["tenant_admin"]
        assert roles.user_role_codes(s, first) == ["auditor"]
