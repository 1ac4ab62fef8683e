"""Location restriction: what a principal restricted to some locations may see.

A tenant user may be restricted to locations (a district, say): rows of
``user_locations``, carried by the request's principal as
``Principal.location_ids``. Every list, search and single-record lookup of
data that belongs to a location passes its statement through
:func:`restrict_to_locations`, naming the column that holds the row's
location::

    stmt = select(Household).where(...)
    stmt = restrict_to_locations(stmt, current_principal(), Household.location_id)

An unrestricted principal (no location ids) gets the statement unchanged; a
restricted one only rows whose location is one of its locations or lies
below one of them. Rows without a location are hidden from restricted
principals. Applied to a lookup by id, it turns an out-of-area record into
"not found", never into a 403 that would confirm the record exists.

Subtree expansion belongs to the registry, which owns the location tree: it
calls :func:`register_location_expander` once at start-up with a function
that maps the root ids to either a SELECT of one column of location ids (for
example a recursive CTE over ``locations``, so everything runs in one query)
or a collection of ids. Until then the default expander keeps exactly the
given ids.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy import ColumnElement, Select

from schemehost.tenants.identity.principal import Principal

#: root location ids -> a SELECT of one column of location ids, or the ids themselves
Expander = Callable[[frozenset[int]], "Select | Collection[int]"]


def exactly_these(ids: frozenset[int]) -> list[int]:
    """The default expander: no subtrees (the registry registers the real one)."""
    return sorted(ids)


_expander: Expander = exactly_these


def register_location_expander(expander: Expander | None) -> Expander:
    """Use ``expander`` to expand a principal's locations to their subtrees (None: the default);
    returns the expander it replaces."""
    global _expander
    previous = _expander
    _expander = expander or exactly_these
    return previous


def location_clause(principal: Principal, location_column) -> ColumnElement[bool] | None:
    """The WHERE clause that keeps rows a principal may see, or None when it is not restricted."""
    if principal is None:
        # fail closed: a caller that forgot the principal must not get every row
        raise RuntimeError("restrict_to_locations needs the principal the rows are for")
    if not principal.location_ids:
        return None
    expanded = _expander(frozenset(principal.location_ids))
    if isinstance(expanded, Select):
        return location_column.in_(expanded)
    return location_column.in_(sorted(expanded))


def restrict_to_locations(stmt: Select, principal: Principal, location_column) -> Select:
    """``stmt`` limited to rows whose ``location_column`` is within the principal's locations
    (and their subtrees); unchanged for a principal without a location restriction."""
    clause = location_clause(principal, location_column)
    return stmt if clause is None else stmt.where(clause)
