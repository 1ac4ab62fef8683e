"""The JSON Schema of a template file (structure only; ``validate`` adds the cross-field rules).

A node's ``x-hint`` replaces the validator's own message with one a person
writing a template can act on. The file format is documented in
``docs/templates.md``.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from schemehost.platform.permissions import MODULES

CODE = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$",
        "x-hint": _l("a code has 1 to 50 letters, digits, '.', '_' or '-', starting with a letter or digit")}
NAME = {"type": "string", "minLength": 1, "maxLength": 200}

FACILITY_KINDS = ["dispensary", "health_centre", "hospital", "pharmacy", "payment_point"]
CARE_TYPES = ["in_patient", "out_patient", "both"]
ORGANISATION_KINDS = ["employer", "bank", "mobile_money_provider", "ngo", "government"]
PROGRAMME_MODULES = ["insurance", "vouchers", "transfers"]



def _placed(kinds: list[str], **extra: Any) -> dict[str, Any]:
    """A list of coded, named things of one of ``kinds``, each in a demo location."""
    return {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["code", "name", "kind", "location"],
            "additionalProperties": False,
            "properties": {"code": CODE, "name": NAME, "location": CODE, "kind": {"enum": kinds}, **extra},
        },
    }


# Plain data the registry and module issues load into a tenant created with demo data.
DEMO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        # One flat list, parents before children; a location's level is the one
        # below its parent's, and top-level locations have no parent.
        "locations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "name", "level"],
                "additionalProperties": False,
                "properties": {"code": CODE, "name": NAME, "level": NAME, "parent": CODE},
            },
        },
        # Health facilities and payment points, each in a demo location.
        "facilities": _placed(FACILITY_KINDS, care_type={"enum": CARE_TYPES}),
        # Employers, banks, mobile-money providers... each in a demo location.
        "organisations": _placed(ORGANISATION_KINDS, details={"type": "object"}),
        # Insurance products, voucher programmes, transfer programmes; ``details``
        # is validated by the module that loads it. Amounts are integer minor units.
        "programmes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "name", "module"],
                "additionalProperties": False,
                "properties": {
                    "code": CODE, "name": NAME,
                    "module": {"enum": PROGRAMME_MODULES},
                    "details": {"type": "object"},
                },
            },
        },
    },
}

TEMPLATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version", "title", "description", "currency", "locale", "timezone",
                 "location_levels", "modules", "roles"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9]*(-[a-z0-9]+)*$", "maxLength": 63,
                 "x-hint": _l("a template name is lowercase letters and digits with single hyphens, e.g. 'cash-transfer'")},
        "version": {"type": "integer", "minimum": 1,
                    "x-hint": _l("the version is a whole number, 1 or more, raised at every change")},
        "title": NAME,
        "description": {"type": "string", "minLength": 1},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                     "x-hint": _l("a currency is a three-letter ISO 4217 code in capitals, e.g. 'XAF'")},
        "locale": {"enum": ["en", "fr"]},
        "timezone": {"type": "string", "minLength": 1},
        "location_levels": {"type": "array", "items": NAME, "minItems": 1, "maxItems": 8, "uniqueItems": True},
        "modules": {"type": "array", "items": {"enum": list(MODULES)}, "minItems": 1, "uniqueItems": True},
        "roles": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["code", "name", "permissions"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,49}$",
                             "x-hint": _l("a role code is lowercase letters, digits and '_', e.g. 'claims_reviewer'")},
                    "name": NAME,
                    "description": {"type": "string"},
                    "permissions": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                },
            },
        },
        # Module defaults, one settings row per top-level key; keys of the fields
        # above are refused here (see ``validate``).
        "settings": {"type": "object", "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,99}$"}},
        "demo": DEMO_SCHEMA,
    },
}
