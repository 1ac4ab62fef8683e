"""Location restriction of lists and searches, on small tables made inside a rolled-back transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, select

from schemehost.platform.extensions import db
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import register_location_expander, restrict_to_locations

meta = MetaData()
# temporary tables (no schema): a location tree and rows that belong to a location
locations = Table("scoping_locations", meta, Column("id", Integer, primary_key=True),
                  Column("parent_id", Integer, ForeignKey("scoping_locations.id")), prefixes=["TEMPORARY"])
households = Table("scoping_households", meta, Column("id", Integer, primary_key=True),
                   Column("name", String(50)), Column("location_id", Integer), prefixes=["TEMPORARY"])

# 1 region > 2, 3 districts; 2 > 4 ward > 5 village
TREE = [(1, None), (2, 1), (3, 1), (4, 2), (5, 4)]
ROWS = [(1, "at region", 1), (2, "in district 2", 2), (3, "in district 3", 3), (4, "in ward 4", 4),
        (5, "in village 5", 5), (6, "nowhere", None)]


def _principal(*location_ids: int) -> Principal:
    return Principal(kind="user", id="1", name="Officer", tenant_id=1, permissions=frozenset({"registry.read"}),
                     location_ids=frozenset(location_ids))


def subtree(ids: frozenset[int]):
    """What the registry registers: the given locations and everything below them, as one SELECT."""
    tree = select(locations.c.id).where(locations.c.id.in_(sorted(ids))).cte("tree", recursive=True)
    tree = tree.union_all(select(locations.c.id).join(tree, locations.c.parent_id == tree.c.id))
    return select(tree.c.id)


@pytest.fixture
def conn(app_ctx):
    with db.engine.connect() as connection:
        tx = connection.begin()
        meta.create_all(connection)
        connection.execute(locations.insert(), [{"id": i, "parent_id": p} for i, p in TREE])
        connection.execute(households.insert(), [{"id": i, "name": n, "location_id": loc} for i, n, loc in ROWS])
        try:
            yield connection
        finally:
            tx.rollback()


@pytest.fixture
def registry_expander():
    previous = register_location_expander(subtree)
    yield
    register_location_expander(previous)


def _names(conn, principal) -> list[str]:
    stmt = restrict_to_locations(select(households.c.name).order_by(households.c.id), principal,
                                 households.c.location_id)
    return list(conn.execute(stmt).scalars())


def test_an_unrestricted_principal_sees_every_row(conn, registry_expander):
    assert _names(conn, _principal()) == [n for _i, n, _l in ROWS]


def test_a_restricted_principal_sees_its_locations_and_their_subtrees(conn, registry_expander):
    assert _names(conn, _principal(2)) == ["in district 2", "in ward 4", "in village 5"]
    assert _names(conn, _principal(3, 4)) == ["in district 3", "in ward 4", "in village 5"]
    assert _names(conn, _principal(5)) == ["in village 5"]  # nothing above it, no rows without a location


def test_a_lookup_by_id_outside_the_area_finds_nothing(conn, registry_expander):
    stmt = restrict_to_locations(select(households.c.name).where(households.c.id == 3), _principal(2),
                                 households.c.location_id)
    assert conn.execute(stmt).first() is None


def test_without_the_registrys_expander_exactly_the_given_locations(conn):
    previous = register_location_expander(None)
    try:
        assert _names(conn, _principal(2)) == ["in district 2"]
        register_location_expander(lambda ids: {i + 2 for i in ids})  # a plain collection of ids also works
        assert _names(conn, _principal(2)) == ["in ward 4"]
    finally:
        register_location_expander(previous)


def test_a_forgotten_principal_fails_instead_of_showing_everything(conn):
    with pytest.raises(RuntimeError):
        restrict_to_locations(select(households.c.name), None, households.c.location_id)
