"""Voucher codes: the Damm check digit catches every single-digit error and every adjacent
transposition (property test), codes carry at least 48 random bits, and 1,000,000 do not collide."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from schemehost.tenants.vouchers import codes
from schemehost.tenants.vouchers.models import RANDOM_DIGITS, VOUCHER_CODE_LENGTH

bodies = st.text(alphabet="0123456789", min_size=RANDOM_DIGITS, max_size=RANDOM_DIGITS)


def _with_check(body: str) -> str:
    from stdnum import damm

    return body + damm.calc_check_digit(body)


@settings(max_examples=300)
@given(bodies, st.integers(0, VOUCHER_CODE_LENGTH - 1), st.integers(1, 9))
def test_every_single_digit_error_is_caught(body, position, shift):
    code = _with_check(body)
    assert codes.is_valid(code)
    wrong = code[:position] + str((int(code[position]) + shift) % 10) + code[position + 1:]
    assert not codes.is_valid(wrong)


@settings(max_examples=300)
@given(bodies, st.integers(0, VOUCHER_CODE_LENGTH - 2))
def test_every_adjacent_transposition_is_caught(body, position):
    code = _with_check(body)
    a, b = code[position], code[position + 1]
    swapped = code[:position] + b + a + code[position + 2:]
    assert codes.is_valid(swapped) == (a == b)


def test_codes_have_at_least_48_random_bits_and_read_in_groups():
    assert RANDOM_DIGITS * math.log2(10) >= 48
    code = codes.new_code()
    assert len(code) == VOUCHER_CODE_LENGTH and code.isdigit() and codes.is_valid(code)
    assert codes.grouped(code).split() == [code[i:i + 4] for i in range(0, 16, 4)]
    assert codes.normalise(" " + codes.grouped(code).replace(" ", "-", 1) + " ") == code
    assert not codes.is_valid("abcd" + code[4:]) and not codes.is_valid(code + "0")


def test_a_million_codes_do_not_collide():
    drawn = [codes.new_code() for _ in range(1_000_000)]
    assert len(set(drawn)) == len(drawn)
    assert len({c[:3] for c in drawn}) == 1000  # spread over the whole space, leading zeros kept
