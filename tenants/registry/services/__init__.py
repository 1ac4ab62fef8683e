"""The registry's operations (locations, facilities, catalogue, price lists); each takes the tenant
session first, only flushes, and records every change in the audit log."""

from schemehost.tenants.registry.services._common import UNSET, level_names, tenant_currency
from schemehost.tenants.registry.services.catalogue import (create_entry, get_entry, get_entry_by_code, list_entries,
                                                            types_of, update_entry)
from schemehost.tenants.registry.services.facilities import (create_facility, facility_levels_allowed, get_facility,
                                                             get_facility_by_code, list_facilities, update_facility)
from schemehost.tenants.registry.services.locations import (POPULATION_FIELDS, TreeNode, ancestors, children,
                                                            create_location, delete_location, existing_location_ids,
                                                            expand_locations, get_location, get_location_by_code,
                                                            in_subtree, level_name, list_locations, location_tree,
                                                            location_usage, move_location, rename_location,
                                                            resolve_level, set_population, subtree_ids,
                                                            update_location)
from schemehost.tenants.registry.services.prices import (PriceLine, Quote, create_price_list, delete_price_list,
                                                         get_price_list, list_price_lists, price_for, price_lines,
                                                         remove_price, set_price, update_price_list)

__all__ = [
    "UNSET", "level_names", "tenant_currency",
    "create_entry", "get_entry", "get_entry_by_code", "list_entries", "types_of", "update_entry",
    "create_facility", "facility_levels_allowed", "get_facility", "get_facility_by_code", "list_facilities",
    "update_facility",
    "POPULATION_FIELDS", "TreeNode", "ancestors", "children", "create_location", "delete_location",
    "existing_location_ids", "expand_locations", "get_location", "get_location_by_code", "in_subtree", "level_name",
    "list_locations", "location_tree", "location_usage", "move_location", "rename_location", "resolve_level",
    "set_population", "subtree_ids", "update_location",
    "PriceLine", "Quote", "create_price_list", "delete_price_list", "get_price_list", "list_price_lists",
    "price_for", "price_lines", "remove_price", "set_price", "update_price_list",
]
