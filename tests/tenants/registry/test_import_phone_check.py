"""The import's short way for phones already written in E.164 gives exactly what the people service
stores (``validation.normalize_phone``): a person imported is found by the phone typed in later."""

from __future__ import annotations

import phonenumbers
import pytest

from schemehost.tenants.registry.imports.checks import check_rows, e164_as_given
from schemehost.tenants.registry.validation import normalize_phone


def _samples() -> list[str]:
    """Example numbers of every region in E.164, with a leading 0, a digit more and a digit less."""
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            cc = str(example.country_code)
            out += [e164, e164 + "7", e164[:-1], f"+{cc}0{e164[len(cc) + 1:]}"]
    return out


SAMPLES = _samples()


@pytest.mark.parametrize("country", ["CM", "FR", None])
def test_e164_short_way_agrees_with_the_people_service(country):
    taken = 0
    for value in SAMPLES:
        fast = e164_as_given(value)
        try:
            full = normalize_phone(value, country)
        except ValueError:
            full = None
        if fast is not None:
            taken += 1
            assert fast == full, value
    assert taken > 200  # most regions' numbers go the short way


def test_a_cameroon_mobile_goes_the_short_way_and_a_bad_number_is_still_refused():
    assert e164_as_given("+237670000001") == "+237670000001"
    assert e164_as_given("+23767000000") is None  # a digit short: the full check words the refusal
    assert e164_as_given("+1 202 555 0123") is None
    rows, problems = check_rows("CM", [(2, "+237670000001", None), (3, "+23767000000", None),
                                       (4, "670000002", None)])
    assert rows == [(2, "+237670000001", None), (3, None, None), (4, "+237670000002", None)]
    assert [(p[0], p[1], p[3]) for p in problems] == [(3, "phone", "invalid_phone")]
