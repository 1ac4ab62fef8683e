"""Importing individuals: checks, all-or-nothing, valid rows only, idempotent re-import."""

from __future__ import annotations

import pytest

from schemehost.tenants.registry.people import Household, Individual

from ._imports_support import count, run_file

HEADER = "external_id,household_external_id,relationship,given_name,family_name,sex,birth_date,phone,national_id,village\n"


def test_valid_file_is_imported_with_households_and_heads(tenant, tree):
    content = (HEADER +
               "P1,H1,head,Amina,Njoya,female,1980-01-02,,,N-R-T-U\n"
               "P2,H1,child,Paul,Njoya,M,2010-03-04,,,N-R-T-U\n"
               "P3,,,Éloïse,Mbarga,f,1975-12-31,,,N-R-T-L\n").encode()
    out, problems = run_file(tenant, "individuals", content)
    assert problems == []
    assert out["status"] == "done"
    assert out["counts"]["created"] == 3 and out["counts"]["households_created"] == 1
    assert count(tenant, Individual) == 3 and count(tenant, Household) == 1
