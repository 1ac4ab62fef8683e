"""The location tree: create, rename, move, population, delete, subtrees.

A location's level is fixed by its place in the tree: top-level locations are at level 0 (the
tenant's first level name), and a child is always exactly one level below its parent. A move
therefore only goes to a parent of the same level as the old one (no cycle can arise, but moving
under oneself or a descendant is still refused by name). ``path`` (ids from the top down to the
location itself) is rewritten for the whole subtree in one statement.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Integer, Select, cast, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.models import UserLocation
from schemehost.tenants.registry.models import LOCATION_ID_SEQ, MAX_LEVELS, HealthFacility, Location
from schemehost.tenants.registry.services._common import (UNSET, Problems, clean_code, clean_count, clean_name,
                                                          flush_unique, level_names, taken)

POPULATION_FIELDS = ("male_population", "female_population", "other_population", "families")
ENTITY = "location"


# ---- reading -------------------------------------------------------------------------------------


def get_location(session: Session, location_id: int, *, lock: bool = False) -> Location:
    """The location with this id (404 when it is not one of this tenant's)."""
    stmt = select(Location).where(Location.id == location_id)
    if lock:
        stmt = stmt.with_for_update()
    loc = session.execute(stmt).scalar_one_or_none() if _is_id(location_id) else None
    if loc is None:
        raise NotFound(_("No location with id %(id)s.", id=location_id), errors={"id": [_("unknown location")]})
    return loc


def get_location_by_code(session: Session, code: str) -> Location:
    loc = session.execute(select(Location).where(Location.code == code)).scalar_one_or_none()
    if loc is None:
        raise NotFound(_("No location with code '%(code)s'.", code=code), errors={"code": [_("unknown location")]})
    return loc


def list_locations(session: Session, *, parent_id: int | None = UNSET, level: int | str | None = None,
                   code: str | None = None, q: str | None = None, within: int | None = None,
                   ids: Collection[int] | None = None, after_id: int | None = None,
                   limit: int = 100) -> list[Location]:
    """Locations in id order (keyset: pass the last id seen as ``after_id``), filtered by parent
    (None: top level), level (index or name), exact code, name fragment, subtree of ``within``, or ids."""
    stmt = select(Location).order_by(Location.id).limit(limit)
    if ids is not None:
        stmt = stmt.where(Location.id.in_(sorted({i for i in ids if _is_id(i)})))
    if parent_id is not UNSET:
        stmt = stmt.where(Location.parent_id.is_(None) if parent_id is None else Location.parent_id == parent_id)
    if level is not None:
        stmt = stmt.where(Location.level == resolve_level(session, level, field="level"))
    if code:
        stmt = stmt.where(Location.code == code)
    if q:
        stmt = stmt.where(Location.name.ilike("%" + _escape_like(q.strip()) + "%", escape="\\"))
    if within is not None:
        stmt = stmt.where(Location.path.contains([within]))
    if after_id is not None:
        stmt = stmt.where(Location.id > after_id)
    return list(session.execute(stmt).scalars())


def resolve_level(session: Session, value: int | str, *, field: str = "level") -> int:
    """A level given by its index (0 = top) or its name (any case) as an index; 422 otherwise."""
    names = level_names(session)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value
    if isinstance(value, str):
        folded = [n.casefold() for n in names]
        if value.strip().casefold() in folded:
            return folded.index(value.strip().casefold())
    problems = Problems()
    problems.add(field, _("One of the levels: %(levels)s.", levels=", ".join(names)))
    problems.raise_if_any(_("Unknown location level."))
    raise AssertionError  # unreachable


def level_name(names: list[str], level: int) -> str:
    return names[level] if 0 <= level < len(names) else _("Level %(n)d", n=level + 1)


def ancestors(session: Session, location: Location) -> list[Location]:
    """The location's ancestors, top first."""
    ids = location.path[:-1]
    if not ids:
        return []
    found = {loc.id: loc for loc in session.execute(select(Location).where(Location.id.in_(ids))).scalars()}
    return [found[i] for i in ids if i in found]


def children(session: Session, location_id: int) -> list[Location]:
    return list(session.execute(select(Location).where(Location.parent_id == location_id)
                                .order_by(Location.name, Location.id)).scalars())


def location_usage(session: Session, location_id: int) -> dict[str, int]:
    """What refers to a location: child locations, facilities, users restricted to it."""
    return {
        "children": session.execute(select(func.count()).where(Location.parent_id == location_id)).scalar_one(),
        "facilities": session.execute(
            select(func.count()).where(HealthFacility.location_id == location_id)).scalar_one(),
        "users": session.execute(
            select(func.count()).where(UserLocation.location_id == location_id)).scalar_one(),
    }


def existing_location_ids(session: Session, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` are locations of this tenant."""
    wanted = sorted({i for i in ids if _is_id(i)})
    if not wanted:
        return set()
    return set(session.execute(select(Location.id).where(Location.id.in_(wanted))).scalars())


# ---- subtrees (used by the location restriction, search and filters) ------------------------------


def subtree_ids(root_ids: Collection[int]) -> Select:
    """A SELECT of the ids of the given locations and of everything below them (one GIN index scan)."""
    roots = sorted({int(i) for i in root_ids})
    return select(Location.id).where(Location.path.overlap(cast(literal(roots, ARRAY(Integer)), ARRAY(Integer))))


def in_subtree(location_column: Any, root_id: int) -> ColumnElement[bool]:
    """A WHERE clause: ``location_column`` is ``root_id`` or a location below it."""
    return location_column.in_(select(Location.id).where(Location.path.contains([root_id])))


def expand_locations(root_ids: frozenset[int]) -> Select:
    """The expander registered with the identity module's location restriction."""
    return subtree_ids(root_ids)


# ---- the console tree -------------------------------------------------------------------------------


@dataclass
class TreeNode:
    location: Location
    children: list["TreeNode"] = field(default_factory=list)
    #: how many children the location has, shown or not
    child_count: int = 0

    @property
    def hidden_children(self) -> bool:
        return self.child_count > len(self.children)


def location_tree(session: Session, *, root_id: int | None = None, max_nodes: int = 1500) -> list[TreeNode]:
    """The tree (or the subtree of ``root_id``) as nested nodes sorted by name, as deep as fits in
    about ``max_nodes`` nodes; deeper nodes are left out (``hidden_children`` says where)."""
    scope = [] if root_id is None else [Location.path.contains([root_id])]
    per_level = dict(session.execute(select(Location.level, func.count()).where(*scope)
                                     .group_by(Location.level)).all())
    top = get_location(session, root_id).level if root_id is not None else 0
    deepest, total = top, 0
    for level in range(top, MAX_LEVELS):
        total += per_level.get(level, 0)
        if total > max_nodes and level > top:
            break
        deepest = level
    nodes = list(session.execute(select(Location).where(*scope, Location.level <= deepest)
                                 .order_by(Location.level, Location.name, Location.id)).scalars())
    counts = dict(session.execute(select(Location.parent_id, func.count()).where(*scope)
                                  .group_by(Location.parent_id)).all())
    by_id: dict[int, TreeNode] = {}
    roots: list[TreeNode] = []
    for loc in nodes:
        node = TreeNode(loc, child_count=counts.get(loc.id, 0))
        by_id[loc.id] = node
        parent = by_id.get(loc.parent_id) if loc.id != root_id else None
        (parent.children if parent is not None else roots).append(node)
    return roots


# ---- changing ------------------------------------------------------------------------------------


def create_location(session: Session, *, code: str, name: str, parent_id: int | None = None,
                    level: int | str | None = None, population: dict[str, int | None] | None = None) -> Location:
    """Add a location below ``parent_id`` (None: at the top level). ``level``, when given, must be the
    level that place implies (422 otherwise); codes are unique in the tenant (409)."""
    problems = Problems()
    code = clean_code(code, problems)
    name = clean_name(name, problems)
    names = level_names(session)
    parent = None
    if parent_id is not None:
        parent = _parent(session, parent_id, problems)
    expected = 0 if parent_id is None else (parent.level + 1 if parent is not None else None)
    if expected is not None:
        if expected >= len(names):
            problems.add("parent_id", _("A %(level)s is the lowest level; nothing can be placed below it.",
                                        level=level_name(names, expected - 1)))
        elif level is not None:
            given = _level_or_problem(session, level, problems)
            if given is not None and given != expected:
                if parent is None:
                    problems.add("level", _("A %(level)s needs a parent: a %(parent)s.",
                                            level=level_name(names, given), parent=level_name(names, given - 1)))
                else:
                    problems.add("level", _("Below a %(parent)s comes a %(level)s, not a %(given)s.",
                                            parent=level_name(names, parent.level), level=level_name(names, expected),
                                            given=level_name(names, given)))
    pop = _population(population or {}, problems)
    problems.raise_if_any(_("The location cannot be created."))
    if session.execute(select(Location.id).where(Location.code == code)).first():
        raise taken(code)
    new_id = session.execute(select(LOCATION_ID_SEQ.next_value())).scalar_one()
    loc = Location(id=new_id, code=code, name=name, level=expected, parent_id=parent_id,
                   path=[*(parent.path if parent is not None else []), new_id], **pop)
    session.add(loc)
    flush_unique(session, code)
    audit.record(session, "create", ENTITY, loc.id, after=snapshot(loc))
    return loc


def update_location(session: Session, location_id: int, *, name: str = UNSET, code: str = UNSET,
                    parent_id: int | None = UNSET, population: dict[str, int | None] | None = None) -> Location:
    """Rename, re-code, move (to a parent of the same level as the old one; 422 for a cycle or another
    level) and set population figures of a location, in one audited change."""
    loc = get_location(session, location_id, lock=True)
    before = snapshot(loc)
    problems = Problems()
    new_name = clean_name(name, problems) if name is not UNSET else loc.name
    new_code = clean_code(code, problems) if code is not UNSET else loc.code
    pop = _population(population or {}, problems)
    parent = None
    moving = parent_id is not UNSET and parent_id != loc.parent_id
    if moving:
        parent = _check_move(session, loc, parent_id, problems)
    problems.raise_if_any(_("The location cannot be changed."))
    if new_code != loc.code and session.execute(select(Location.id).where(Location.code == new_code)).first():
        raise taken(new_code)
    loc.name, loc.code = new_name, new_code
    for key, value in pop.items():
        setattr(loc, key, value)
    if moving:
        _move_subtree(session, loc, parent)
    flush_unique(session, new_code)
    session.refresh(loc)
    after = snapshot(loc)
    if after != before:
        audit.record(session, "move" if moving else "update", ENTITY, loc.id, before=before, after=after)
    return loc


def rename_location(session: Session, location_id: int, name: str, *, code: str = UNSET) -> Location:
    return update_location(session, location_id, name=name, code=code)


def move_location(session: Session, location_id: int, parent_id: int | None) -> Location:
    return update_location(session, location_id, parent_id=parent_id)


def set_population(session: Session, location_id: int, **figures: int | None) -> Location:
    return update_location(session, location_id, population=figures)


def delete_location(session: Session, location_id: int) -> None:
    """Delete a location nothing refers to (409 naming what still does)."""
    loc = get_location(session, location_id, lock=True)
    usage = location_usage(session, loc.id)
    if any(usage.values()):
        raise _in_use(usage)
    before = snapshot(loc)
    try:
        with session.begin_nested():
            session.execute(delete(Location).where(Location.id == loc.id))
    except IntegrityError:  # a record of another module (a household, say) still points here
        raise _in_use({}) from None
    session.expunge(loc)
    audit.record(session, "delete", ENTITY, location_id, before=before)


def snapshot(loc: Location) -> dict[str, Any]:
    data = {"code": loc.code, "name": loc.name, "level": loc.level, "parent_id": loc.parent_id,
            "path": list(loc.path)}
    data.update({key: getattr(loc, key) for key in POPULATION_FIELDS})
    return data


# ---- helpers -------------------------------------------------------------------------------------


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _parent(session: Session, parent_id: Any, problems: Problems, *, lock: bool = False) -> Location | None:
    stmt = select(Location).where(Location.id == parent_id)
    if lock:
        stmt = stmt.with_for_update(read=True)  # its path must not change while we copy it
    parent = session.execute(stmt).scalar_one_or_none() if _is_id(parent_id) else None
    if parent is None:
        problems.add("parent_id", _("No location with id %(id)s.", id=parent_id))
    return parent


def _level_or_problem(session: Session, level: int | str, problems: Problems) -> int | None:
    from schemehost.platform.errors import ValidationError

    try:
        return resolve_level(session, level)
    except ValidationError as err:
        for message in err.errors.get("level", []):
            problems.add("level", message)
        return None


def _population(values: dict[str, Any], problems: Problems) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for key, value in values.items():
        if key not in POPULATION_FIELDS:
            problems.add(key, _("Not a population figure."))
            continue
        out[key] = clean_count(value, problems, key)
    return out


def _check_move(session: Session, loc: Location, parent_id: int | None, problems: Problems) -> Location | None:
    names = level_names(session)
    if parent_id is None:
        problems.add("parent_id", _("A %(level)s needs a parent: a %(parent)s.",
                                    level=level_name(names, loc.level), parent=level_name(names, loc.level - 1)))
        return None
    parent = _parent(session, parent_id, problems, lock=True)
    if parent is None:
        return None
    if loc.id in parent.path:
        problems.add("parent_id", _("A location cannot be moved under itself or one of the locations below it."))
        return None
    if parent.level != loc.level - 1:
        if loc.level == 0:
            problems.add("parent_id", _("A %(level)s is at the top level and has no parent.",
                                        level=level_name(names, loc.level)))
        else:
            problems.add("parent_id", _("A %(level)s goes below a %(parent)s, not below a %(given)s.",
                                        level=level_name(names, loc.level), parent=level_name(names, loc.level - 1),
                                        given=level_name(names, parent.level)))
        return None
    return parent


def _move_subtree(session: Session, loc: Location, parent: Location) -> None:
    """Re-parent ``loc`` and rewrite the path of it and everything below it in one statement."""
    depth = loc.level  # the number of ancestors, the same before and after (same level)
    session.execute(select(Location.id).where(Location.path.contains([loc.id])).with_for_update())
    session.execute(
        update(Location)
        .where(Location.path.contains([loc.id]))
        .values(path=cast(literal(list(parent.path), ARRAY(Integer)), ARRAY(Integer)).concat(
            Location.path[depth + 1:MAX_LEVELS]))
        .execution_options(synchronize_session=False)
    )
    loc.parent_id = parent.id


def _in_use(usage: dict[str, int]) -> Conflict:
    parts = []
    if usage.get("children"):
        parts.append(_("%(n)d locations below it", n=usage["children"]))
    if usage.get("facilities"):
        parts.append(_("%(n)d health facilities", n=usage["facilities"]))
    if usage.get("users"):
        parts.append(_("%(n)d users restricted to it", n=usage["users"]))
    detail = (_("The location is still used (%(what)s); it cannot be deleted.", what=", ".join(parts)) if parts
              else _("The location is still used by other records; it cannot be deleted."))
    return Conflict(detail, errors={"id": [detail]}, usage=usage)
