"""SCHEMEHOST_PASSWORD_HASH_COST (decision 0095): the suite's minimal cost, the standard default, and
a mistaken value refused."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = r"""
from argon2 import PasswordHasher
from schemehost.platform import passwords
minimal = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("correct horse")
ok, new_hash = passwords.verify_password(minimal, "correct horse")
print(passwords.COST, ok, new_hash is not None, passwords.hash_password("x").split("$")[3])
"""


def _run(value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SCHEMEHOST_PASSWORD_HASH_COST"}
    if value is not None:
        env["SCHEMEHOST_PASSWORD_HASH_COST"] = value
    return subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=60)


def test_standard_is_the_default_and_rehashes_a_minimal_hash_at_sign_in():
    out = _run(None)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["standard", "True", "True", "m=65536,t=3,p=4"]


def test_minimal_hashes_cheaply_and_a_mistaken_value_stops_the_process():
    out = _run("minimal")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["minimal", "True", "False", "m=1024,t=1,p=1"]
    bad = _run("fast")
    assert bad.returncode != 0 and "SCHEMEHOST_PASSWORD_HASH_COST must be 'standard' or 'minimal'" in bad.stderr
