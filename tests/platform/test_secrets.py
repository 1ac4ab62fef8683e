"""Tenant secrets: encrypted at rest, readable through key rotation, clear errors without the key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from schemehost.platform.errors import ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.secrets import (
    SecretKeyError,
    delete_secret,
    generate_key,
    get_secret,
    rotate_secrets,
    set_secret,
)
from schemehost.platform.tenants.models import TenantSecret

VALUE = "sk_live_not-in-the-table-1234"


@pytest.fixture
def tenant_id(bare_tenant):
    """A bare control-plane tenant row, committed (secrets tests themselves roll back)."""
    return bare_tenant("st")[0]


@pytest.fixture
def base_keys(app):
    """The installation's usual key ring (other tests' secrets are encrypted with it)."""
    from schemehost.platform.secrets.services import _instance_keys
    from pathlib import Path

    raw = app.config.get("SECRET_KEYS") or _instance_keys(Path(app.instance_path))
    return [k for k in raw.replace(",", " ").split() if k]


@pytest.fixture
def keys(app, monkeypatch):
    """Set the key ring for one test: keys(k1, k2, ...) — newest first."""
    return lambda *ks: monkeypatch.setitem(app.config, "SECRET_KEYS", ",".join(ks))


def _ciphertext(tenant_id, name):
    return db.session.execute(
        select(TenantSecret.ciphertext).where(TenantSecret.tenant_id == tenant_id, TenantSecret.name == name)
    ).scalar_one()


def test_secret_is_encrypted_at_rest(app_ctx, tenant_id, keys):
    k1 = generate_key()
    keys(k1)
    set_secret(db.session, tenant_id, "stripe.api-key", VALUE)
    stored = _ciphertext(tenant_id, "stripe.api-key")
    assert VALUE.encode() not in stored
    assert Fernet(k1).decrypt(stored).decode() == VALUE
    assert get_secret(db.session, tenant_id, "stripe.api-key") == VALUE

    set_secret(db.session, tenant_id, "stripe.api-key", "replaced")
    assert get_secret(db.session, tenant_id, "stripe.api-key") == "replaced"
    assert get_secret(db.session, tenant_id, "unknown") is None
    assert delete_secret(db.session, tenant_id, "stripe.api-key") is True
    assert get_secret(db.session, tenant_id, "stripe.api-key") is None
    assert delete_secret(db.session, tenant_id, "stripe.api-key") is False


def test_rotation_re_encrypts_with_the_newest_key(app_ctx, tenant_id, keys):
    old, new = generate_key(), generate_key()
    keys(old)
    for i in range(5):
        set_secret(db.session, tenant_id, f"s{i}", f"{VALUE}-{i}")
    before = _ciphertext(tenant_id, "s0")

    keys(new, old)
    assert get_secret(db.session, tenant_id, "s0") == f"{VALUE}-0"  # old ciphertexts still readable
    assert rotate_secrets(db.session, batch_size=2) >= 5

    after = _ciphertext(tenant_id, "s0")
    assert after != before
    assert Fernet(new).decrypt(after).decode() == f"{VALUE}-0"
    keys(new)  # the old key can go once rotation has run
    assert [get_secret(db.session, tenant_id, f"s{i}") for i in range(5)] == [f"{VALUE}-{i}" for i in range(5)]


def test_missing_key_is_a_clear_error(app_ctx, tenant_id, keys):
    keys(generate_key())
    secret = set_secret(db.session, tenant_id, "dhis2.password", VALUE)
    keys(generate_key())
    with pytest.raises(SecretKeyError) as err:
        get_secret(db.session, tenant_id, "dhis2.password")
    assert f"Secret {secret.id} cannot be decrypted" in err.value.detail
    assert "SCHEMEHOST_SECRET_KEYS" in err.value.detail and VALUE not in err.value.detail
    with pytest.raises(SecretKeyError):
        rotate_secrets(db.session)


def test_bad_input_and_malformed_key(app_ctx, tenant_id, keys):
    keys(generate_key())
    with pytest.raises(ValidationError) as err:
        set_secret(db.session, tenant_id, "Bad Name", "")
    assert set(err.value.errors) == {"name", "value"}
    keys("not-a-key")
    with pytest.raises(SecretKeyError) as err:
        set_secret(db.session, tenant_id, "x", "y")
    assert "Key 1" in err.value.detail and "not-a-key" not in err.value.detail


def test_instance_key_file_is_created_once(app_ctx, app, keys):
    from schemehost.platform.secrets import key_ring
    from schemehost.platform.secrets.services import KEY_FILE
    from pathlib import Path

    keys()  # unset
    token = key_ring().encrypt(b"x")
    path = Path(app.instance_path) / KEY_FILE
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert key_ring().decrypt(token) == b"x"


def test_cli_generate_key_and_rotate(app, runner, tenant_id, keys, base_keys):
    key = runner("secrets", "generate-key").output.strip()
    Fernet(key)  # a valid key
    old = generate_key()
    keys(old)
    with app.app_context():
        set_secret(db.session, tenant_id, "cli.secret", VALUE)
        db.session.commit()
    try:
        keys(key, old, *base_keys)
        result = runner("secrets", "rotate")
        assert result.exit_code == 0, result.output
        assert "re-encrypted" in result.output and VALUE not in result.output
        keys(key)
        with app.app_context():
            assert get_secret(db.session, tenant_id, "cli.secret") == VALUE
            delete_secret(db.session, tenant_id, "cli.secret")
            db.session.commit()

        keys(generate_key())  # a secret under a key the ring does not hold: rotation fails cleanly
        with app.app_context():
            set_secret(db.session, tenant_id, "cli.other", VALUE)
            db.session.commit()
        keys(key, *base_keys)
        failed = runner("secrets", "rotate")
        assert failed.exit_code == 1 and "cannot be decrypted" in failed.output
        with app.app_context():
            delete_secret(db.session, tenant_id, "cli.other")
            db.session.commit()
    finally:  # put every other test's secrets back under the usual ring
        keys(*base_keys, key, old)
        assert runner("secrets", "rotate").exit_code == 0
