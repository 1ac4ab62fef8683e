"""Fixtures of the registry tests: a tenant, a small location tree, audit reading."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schemehost.tenants.identity.models import AuditEntry


@pytest.fixture
def tenant(make_tenant):
    """A blank-template tenant (levels Region > District > Municipality > Village, currency USD)."""
    return make_tenant("blank")


@pytest.fixture
def tree(tenant):
    """North (Region) > Riverside (District) > Town (Municipality) > Upper, Lower (Villages), and
    South (Region) > Hills (District); returns {code: id}."""
    from schemehost.tenants.registry import services as reg

    ids: dict[str, int] = {}
    with tenant.session() as s:
        for code, name, parent in [("N", "North", None), ("N-R", "Riverside", "N"), ("N-R-T", "Town", "N-R"),
                                   ("N-R-T-U", "Upper", "N-R-T"), ("N-R-T-L", "Lower", "N-R-T"),
                                   ("S", "South", None), ("S-H", "Hills", "S")]:
            ids[code] = reg.create_location(s, code=code, name=name, parent_id=ids.get(parent)).id
    return ids


def audit_entries(tenant, entity_type=None, action=None):
    with tenant.session() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if entity_type:
            stmt = stmt.where(AuditEntry.entity_type == entity_type)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return list(s.execute(stmt).scalars())
