"""Registry imports (issue 4, part 6): CSV and XLSX files of locations, facilities, households,
individuals and prices, checked set-wise in PostgreSQL and written all-or-nothing (or the valid
rows only), as a background job with a per-row report. See ``docs/registry.md`` (Import and export).
"""

from schemehost.tenants.registry.imports.kinds import KINDS, spec_for, template_csv, template_xlsx
from schemehost.tenants.registry.imports.services import (JOB_KIND, count_problems, create_import, get_import,
                                                          import_dict, list_imports, list_problems, problem_dict,
                                                          problem_message, read_original, report_csv, run_import)

__all__ = ["KINDS", "JOB_KIND", "spec_for", "template_csv", "template_xlsx", "count_problems", "create_import",
           "get_import", "import_dict", "list_imports", "list_problems", "problem_dict", "problem_message",
           "read_original", "report_csv", "run_import"]
