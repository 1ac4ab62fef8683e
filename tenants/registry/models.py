"""Registry tables of every tenant schema: the location tree, health facilities, the catalogue of
items and services, and price lists.

Locations carry a materialized path (``path``: the ids from the top-level location down to the
location itself) with a GIN index, so "this location and everything below it" is one indexed
condition (``path @> ARRAY[id]``) and the ancestor at level *k* is ``path[k + 1]``
(decision 0100). Amounts are integers in the currency's minor unit with the currency code
beside them (decision 0101).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import (BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, Sequence, SmallInteger, String,
                        UniqueConstraint)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from schemehost.platform.db import TENANT_PLACEHOLDER, TenantBase, TimestampMixin, status_check

#: Deepest tree a tenant may configure (templates allow at most 8 level names).
MAX_LEVELS = 8
CODE_LENGTH = 50
NAME_LENGTH = 200


class FacilityLevel(StrEnum):
    dispensary = "dispensary"
    health_centre = "health_centre"
    hospital = "hospital"


class CareType(StrEnum):
    in_patient = "in_patient"
    out_patient = "out_patient"
    both = "both"


class FacilityStatus(StrEnum):
    active = "active"
    inactive = "inactive"


class EntryKind(StrEnum):
    """A catalogue entry is an item (something handed over) or a service (something done)."""

    item = "item"
    service = "service"


class EntryType(StrEnum):
    # items
    medicine = "medicine"
    consumable = "consumable"
    device = "device"
    # services
    consultation = "consultation"
    procedure = "procedure"
    laboratory = "laboratory"
    imaging = "imaging"
    delivery = "delivery"
    admission = "admission"
    transport = "transport"
    other = "other"


#: Which types each kind of entry may have.
KIND_TYPES: dict[EntryKind, tuple[EntryType, ...]] = {
    EntryKind.item: (EntryType.medicine, EntryType.consumable, EntryType.device),
    EntryKind.service: (EntryType.consultation, EntryType.procedure, EntryType.laboratory, EntryType.imaging,
                        EntryType.delivery, EntryType.admission, EntryType.transport, EntryType.other),
}


class PatientSex(StrEnum):
    any = "any"
    female = "female"
    male = "male"


class PatientAge(StrEnum):
    any = "any"
    adult = "adult"
    child = "child"


def _kind_type_check() -> str:
    parts = [f"(kind = '{kind.value}' AND {status_check('type', types)})" for kind, types in KIND_TYPES.items()]
    return " OR ".join(parts)


class Location(TimestampMixin, TenantBase):
    """A node of the tenant's location tree; ``level`` indexes the tenant's level names (0 = top)."""

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    level: Mapped[int] = mapped_column(SmallInteger, index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    #: ids from the top-level ancestor down to this location (itself last)
    path: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    male_population: Mapped[int | None] = mapped_column(Integer)
    female_population: Mapped[int | None] = mapped_column(Integer)
    other_population: Mapped[int | None] = mapped_column(Integer)
    families: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_locations_path", "path", postgresql_using="gin"),
        CheckConstraint(f"level >= 0 AND level < {MAX_LEVELS}", name="level"),
        CheckConstraint("(parent_id IS NULL) = (level = 0)", name="parent_level"),
        CheckConstraint("cardinality(path) = level + 1 AND path[level + 1] = id", name="path"),
        CheckConstraint("male_population >= 0 AND female_population >= 0 AND other_population >= 0 "
                        "AND families >= 0", name="population"),
    )


#: The id sequence of ``locations`` (a SERIAL's), read before an insert so that the new row's path
#: can end with its own id; schema ``tenant`` is mapped per session like the tables'.
LOCATION_ID_SEQ = Sequence("locations_id_seq", schema=TENANT_PLACEHOLDER)


class HealthFacility(TimestampMixin, TenantBase):
    """A dispensary, health centre or hospital in a location, under contract between two dates."""

    __tablename__ = "health_facilities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    level: Mapped[str] = mapped_column(String(20))
    care_type: Mapped[str] = mapped_column(String(20))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    contract_start: Mapped[date | None] = mapped_column(Date)
    contract_end: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=FacilityStatus.active,
                                        server_default=FacilityStatus.active.value)

    __table_args__ = (
        CheckConstraint(status_check("level", FacilityLevel), name="level"),
        CheckConstraint(status_check("care_type", CareType), name="care_type"),
        CheckConstraint(status_check("status", FacilityStatus), name="status"),
        CheckConstraint("contract_end >= contract_start", name="contract_dates"),
    )


class CatalogueEntry(TimestampMixin, TenantBase):
    """An item (medicine, consumable, device) or a service (consultation, procedure, ...) that
    facilities provide; ``unit_price`` is the default price in minor units of ``currency``."""

    __tablename__ = "catalogue_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    type: Mapped[str] = mapped_column(String(20))
    unit_price: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    care_type: Mapped[str] = mapped_column(String(20), default=CareType.both, server_default=CareType.both.value)
    #: the fewest days between two uses by the same patient (None: no limit)
    frequency_days: Mapped[int | None] = mapped_column(SmallInteger)
    patient_sex: Mapped[str] = mapped_column(String(10), default=PatientSex.any, server_default=PatientSex.any.value)
    patient_age: Mapped[str] = mapped_column(String(10), default=PatientAge.any, server_default=PatientAge.any.value)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint(status_check("kind", EntryKind), name="kind"),
        CheckConstraint(_kind_type_check(), name="kind_type"),
        CheckConstraint(status_check("care_type", CareType), name="care_type"),
        CheckConstraint(status_check("patient_sex", PatientSex), name="patient_sex"),
        CheckConstraint(status_check("patient_age", PatientAge), name="patient_age"),
        CheckConstraint("unit_price >= 0 AND (unit_price IS NULL) = (currency IS NULL)", name="unit_price"),
        CheckConstraint("frequency_days > 0", name="frequency_days"),
        CheckConstraint("valid_to >= valid_from", name="validity"),
        Index("ix_catalogue_entries_kind_code", "kind", "code"),
    )


class PriceList(TimestampMixin, TenantBase):
    """Prices of catalogue entries between two dates, for one facility or shared by all
    (``facility_id`` None)."""

    __tablename__ = "price_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("health_facilities.id", ondelete="RESTRICT"),
                                                    index=True)
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (CheckConstraint("valid_to >= valid_from", name="validity"),)


class PriceListLine(TenantBase):
    """The price of one catalogue entry in one price list, in minor units of the list's currency."""

    __tablename__ = "price_list_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # the unique constraint's index (price_list_id first) also serves this foreign key
    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_lists.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalogue_entries.id", ondelete="RESTRICT"), index=True)
    price: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("price_list_id", "entry_id"),
        CheckConstraint("price >= 0", name="price"),
    )
