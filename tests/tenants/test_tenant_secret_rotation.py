"""`schemehost secrets rotate` also re-encrypts the secrets kept inside tenant schemas
(second-factor secrets, the SSO client secret)."""

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
import pytest

from schemehost.platform.secrets.services import generate_key
from schemehost.tenants.core.models import User
from schemehost.tenants.identity.models import SsoProvider
from tests.platform.test_secrets import base_keys, keys  # noqa: F401  (fixtures)


def test_rotate_reencrypts_values_inside_tenant_schemas(app, runner, make_tenant, tenant_user, keys, base_keys):
    old = base_keys[0]
    tenant = make_tenant()
    user_id, _email, _password = tenant_user(tenant)
    with tenant.session() as s:
        s.get(User, user_id).totp_secret = Fernet(old).encrypt(b"JBSWY3DPEHPK3PXP").decode()
        s.add(SsoProvider(id=1, issuer="https://id.example.org", client_id="c",
                          client_secret=Fernet(old).encrypt(b"sso-secret").decode()))
    new = generate_key()
    keys(new, *base_keys)
    try:
        result = runner("secrets", "rotate")
        assert result.exit_code == 0, result.output
        with tenant.session() as s:
            totp = s.execute(select(User.totp_secret).where(User.id == user_id)).scalar_one()
            sso = s.execute(select(SsoProvider.client_secret)).scalar_one()
        assert Fernet(new).decrypt(totp.encode()) == b"JBSWY3DPEHPK3PXP"
        assert Fernet(new).decrypt(sso.encode()) == b"sso-secret"
        with pytest.raises(InvalidToken):
            Fernet(old).decrypt(sso.encode())
    finally:  # put every tenant of this test database back under the usual key
        keys(*base_keys, new)
        assert runner("secrets", "rotate").exit_code == 0
