"""Request and response schemas of the registry API.

Inputs are checked for shape here (types, dates); the registry services check values (codes,
levels, places in the tree, periods) and answer with field errors. Amounts are integers in minor
units of the currency shown beside them (decision 0101).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemehost.tenants.registry.models import (CareType, EntryKind, EntryType, FacilityLevel, FacilityStatus,
                                                PatientAge, PatientSex)

MINOR = {"description": "integer amount in minor units of the currency (XAF 1500 = 1,500 FCFA; TZS 150000 = 1,500.00)"}


def _choice(enum, **kw):
    return fields.String(validate=validate.OneOf([e.value for e in enum]), **kw)


class _NotEmpty(Schema):
    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError(str(_l("Send at least one field to change.")), "_schema")


class PageQuerySchema(Schema):
    after_id = fields.Integer(metadata={"description": "the last id of the previous page (keyset pagination)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


# ---- locations -------------------------------------------------------------------------------------


class LocationSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    level = fields.Integer(metadata={"description": "index of the tenant's level names, 0 = top"})
    level_name = fields.String()
    parent_id = fields.Integer(allow_none=True)
    path = fields.List(fields.Integer(), metadata={"description": "ids from the top-level ancestor to this location"})
    male_population = fields.Integer(allow_none=True)
    female_population = fields.Integer(allow_none=True)
    other_population = fields.Integer(allow_none=True)
    families = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class LocationQuerySchema(PageQuerySchema):
    parent_id = fields.Integer(metadata={"description": "children of this location"})
    top = fields.Boolean(metadata={"description": "true: top-level locations only"})
    level = fields.String(metadata={"description": "level index or name"})
    code = fields.String()
    q = fields.String(metadata={"description": "part of the name, any case"})
    within = fields.Integer(metadata={"description": "this location and everything below it"})


class _Population(Schema):
    male_population = fields.Integer(strict=True, allow_none=True)
    female_population = fields.Integer(strict=True, allow_none=True)
    other_population = fields.Integer(strict=True, allow_none=True)
    families = fields.Integer(strict=True, allow_none=True)


class LocationCreateSchema(_Population):
    code = fields.String(required=True, metadata={"description": "1-50 letters, digits, '.', '_', '-'"})
    name = fields.String(required=True)
    parent_id = fields.Integer(strict=True, allow_none=True, metadata={"description": "None: a top-level location"})
    level = fields.Raw(metadata={"description": "optional check: the level index or name the location must have"})


class LocationUpdateSchema(_Population, _NotEmpty):
    code = fields.String()
    name = fields.String()
    parent_id = fields.Integer(strict=True, allow_none=True,
                               metadata={"description": "move below this location (of the same level as the old parent)"})


class LevelSchema(Schema):
    level = fields.Integer()
    name = fields.String()
    facilities = fields.Boolean(metadata={"description": "whether health facilities may be placed at this level"})


# ---- facilities ------------------------------------------------------------------------------------


class FacilitySchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    level = fields.String()
    care_type = fields.String()
    location_id = fields.Integer()
    contract_start = fields.Date(allow_none=True)
    contract_end = fields.Date(allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class FacilityQuerySchema(PageQuerySchema):
    within = fields.Integer(metadata={"description": "in this location or below it"})
    location_id = fields.Integer()
    level = _choice(FacilityLevel)
    status = _choice(FacilityStatus)
    code = fields.String()
    q = fields.String()


class FacilityCreateSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True, metadata={"description": ", ".join(e.value for e in FacilityLevel)})
    care_type = fields.String(required=True, metadata={"description": ", ".join(e.value for e in CareType)})
    location_id = fields.Integer(strict=True, required=True,
                                 metadata={"description": "a location of the lowest or second-lowest level"})
    contract_start = fields.Date(allow_none=True)
    contract_end = fields.Date(allow_none=True)
    status = fields.String(load_default=FacilityStatus.active.value)


class FacilityUpdateSchema(_NotEmpty):
    code = fields.String()
    name = fields.String()
    level = fields.String()
    care_type = fields.String()
    location_id = fields.Integer(strict=True)
    contract_start = fields.Date(allow_none=True)
    contract_end = fields.Date(allow_none=True)
    status = fields.String()


# ---- catalogue -------------------------------------------------------------------------------------


class EntrySchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    code = fields.String()
    name = fields.String()
    type = fields.String()
    unit_price = fields.Integer(allow_none=True, metadata=MINOR)
    currency = fields.String(allow_none=True)
    care_type = fields.String()
    frequency_days = fields.Integer(allow_none=True)
    patient_sex = fields.String()
    patient_age = fields.String()
    valid_from = fields.Date(allow_none=True)
    valid_to = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class EntryQuerySchema(PageQuerySchema):
    kind = _choice(EntryKind)
    type = _choice(EntryType)
    code = fields.String()
    q = fields.String(metadata={"description": "part of the name or code, any case"})
    valid_on = fields.Date()


class _EntryFields(Schema):
    name = fields.String()
    type = fields.String(metadata={"description": ", ".join(e.value for e in EntryType)})
    unit_price = fields.Integer(strict=True, allow_none=True, metadata=MINOR)
    care_type = fields.String(metadata={"description": ", ".join(e.value for e in CareType)})
    frequency_days = fields.Integer(strict=True, allow_none=True)
    patient_sex = fields.String(metadata={"description": ", ".join(e.value for e in PatientSex)})
    patient_age = fields.String(metadata={"description": ", ".join(e.value for e in PatientAge)})
    valid_from = fields.Date(allow_none=True)
    valid_to = fields.Date(allow_none=True)


class EntryCreateSchema(_EntryFields):
    kind = fields.String(required=True, metadata={"description": "item or service"})
    code = fields.String(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True)


class EntryUpdateSchema(_EntryFields, _NotEmpty):
    code = fields.String()


# ---- price lists -----------------------------------------------------------------------------------


class PriceListSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    facility_id = fields.Integer(allow_none=True, metadata={"description": "None: a shared list"})
    currency = fields.String()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PriceListQuerySchema(PageQuerySchema):
    facility_id = fields.Integer()
    shared = fields.Boolean(metadata={"description": "true: shared lists only"})
    valid_on = fields.Date()
    code = fields.String()
    q = fields.String()


class PriceListCreateSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    facility_id = fields.Integer(strict=True, allow_none=True)
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(allow_none=True)


class PriceListUpdateSchema(_NotEmpty):
    code = fields.String()
    name = fields.String()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)


class PriceLineSchema(Schema):
    entry_id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    price = fields.Integer(metadata=MINOR)
    currency = fields.String()


class PriceSetSchema(Schema):
    price = fields.Integer(strict=True, required=True, metadata=MINOR)


class QuoteQuerySchema(Schema):
    facility_id = fields.Integer(required=True)
    entry = fields.String(required=True, metadata={"description": "code of the item or service"})
    date = fields.Date(required=True)
    use_default = fields.Boolean(load_default=False,
                                 metadata={"description": "fall back on the catalogue's default price"})


class QuoteSchema(Schema):
    amount = fields.Integer(metadata=MINOR)
    currency = fields.String()
    entry_id = fields.Integer()
    price_list_id = fields.Integer(allow_none=True)
    price_list_code = fields.String(allow_none=True)
    source = fields.String(metadata={"description": "facility, shared or catalogue"})
