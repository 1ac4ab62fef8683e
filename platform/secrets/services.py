"""Tenant secrets: integration credentials encrypted with a key ring, and key rotation.

The key ring is ``SECRET_KEYS`` (env ``SCHEMEHOST_SECRET_KEYS``): comma-separated
Fernet keys, newest first. The newest encrypts; every key decrypts. When it
is unset, a key kept in the instance folder (created once) is used. Secret
values are never logged or printed.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from schemehost.platform.config import instance_file
from schemehost.platform.db import utcnow
from schemehost.platform.errors import AppError, NotFound, ValidationError
from schemehost.platform.tenants.models import Tenant, TenantSecret

log = logging.getLogger("schemehost.secrets")

KEY_FILE = "secret_keys"
NAME_RE = re.compile(r"[a-z][a-z0-9_.-]{0,99}")


class SecretKeyError(AppError):
    """The key ring is malformed, or lacks the key a stored secret was encrypted with."""

    status = 500
    type = "secret-key-error"
    title = _l("Secret keys are misconfigured")


def generate_key() -> str:
    """A new Fernet key, to be put first in ``SCHEMEHOST_SECRET_KEYS``."""
    return Fernet.generate_key().decode()


def _instance_keys(instance: Path) -> str:
    """The instance folder's key ring, created once with one new key (development default)."""
    return instance_file(instance, KEY_FILE, generate_key)


def key_ring() -> MultiFernet:
    """The current app's key ring: newest key first; a malformed key is a clear error."""
    raw = current_app.config.get("SECRET_KEYS") or _instance_keys(Path(current_app.instance_path))
    keys = [k.strip() for k in re.split(r"[,\s]+", raw) if k.strip()]
    if not keys:
        raise SecretKeyError(_("SCHEMEHOST_SECRET_KEYS holds no key."))
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except ValueError as err:  # never echo the key itself
            raise SecretKeyError(
                _("Key %(n)s of SCHEMEHOST_SECRET_KEYS is not a Fernet key (make one with "
                  "`schemehost secrets generate-key`).", n=position)
            ) from err
    return MultiFernet(fernets)


def _undecryptable(secret_id: int) -> SecretKeyError:
    return SecretKeyError(
        _("Secret %(id)s cannot be decrypted with the configured keys: the key that encrypted it is "
          "missing from SCHEMEHOST_SECRET_KEYS (keep old keys after the new one until "
          "`schemehost secrets rotate` has run).", id=secret_id)
    )


def _find(session: Session, tenant_id: int, name: str) -> TenantSecret | None:
    return session.execute(
        select(TenantSecret).where(TenantSecret.tenant_id == tenant_id, TenantSecret.name == name)
    ).scalar_one_or_none()


def set_secret(session: Session, tenant_id: int, name: str, value: str) -> TenantSecret:
    """Store (or replace) a tenant's secret, encrypted with the newest key."""
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        errors["name"] = [_("1-100 characters: a lowercase letter, then lowercase letters, digits, '_', '.' or '-'.")]
    if not isinstance(value, str) or not value:
        errors["value"] = [_("A secret needs a non-empty text value.")]
    if errors:
        raise ValidationError(_("The secret cannot be stored."), errors=errors)
    if session.get(Tenant, tenant_id) is None:
        raise NotFound(_("No tenant %(id)s.", id=tenant_id))
    ciphertext = key_ring().encrypt(value.encode())
    secret = _find(session, tenant_id, name)
    if secret is None:
        secret = TenantSecret(tenant_id=tenant_id, name=name, ciphertext=ciphertext)
        session.add(secret)
    else:
        secret.ciphertext = ciphertext
    session.flush()
    return secret


def get_secret(session: Session, tenant_id: int, name: str) -> str | None:
    """A tenant's secret in clear, or None when it has none by that name."""
    secret = _find(session, tenant_id, name)
    if secret is None:
        return None
    try:
        return key_ring().decrypt(secret.ciphertext).decode()
    except InvalidToken:
        raise _undecryptable(secret.id) from None


def delete_secret(session: Session, tenant_id: int, name: str) -> bool:
    """Remove a tenant's secret; False when there was none."""
    result = session.execute(
        delete(TenantSecret).where(TenantSecret.tenant_id == tenant_id, TenantSecret.name == name)
    )
    return result.rowcount > 0


#: Encrypted columns inside tenant schemas, as (table, key column, encrypted column); each module
#: that stores a secret in its tenant tables registers it (see ``tenants/identity/models.py``).
TENANT_ENCRYPTED_COLUMNS: list[tuple[Any, str, str]] = []


def register_encrypted_column(table, key: str, column: str) -> None:
    """Declare that ``table.column`` (in every tenant schema) holds key-ring ciphertext."""
    if (table, key, column) not in TENANT_ENCRYPTED_COLUMNS:
        TENANT_ENCRYPTED_COLUMNS.append((table, key, column))


def rotate_tenant_columns(session: Session) -> tuple[int, list[str]]:
    """Re-encrypt the registered encrypted columns in every tenant schema with the newest key, one
    tenant per transaction (under its own role); returns (values re-encrypted, slugs that failed)."""
    from schemehost.platform.tenancy import open_tenant_session, server_engine
    from schemehost.platform.tenants.models import DatabaseServer, TenantStatus
    import schemehost.tenants.models  # noqa: F401  (modules register their columns at import)

    ring = key_ring()
    tenants = session.execute(
        select(Tenant.slug, Tenant.schema_name, Tenant.role_name, DatabaseServer.dsn)
        .join(DatabaseServer, DatabaseServer.id == Tenant.server_id)
        .where(Tenant.role_name.is_not(None), Tenant.status.not_in([TenantStatus.failed, TenantStatus.provisioning]))
        .order_by(Tenant.id)
    ).all()
    session.rollback()
    count, failed = 0, []
    for slug, schema, role, dsn in tenants:
        tsession = open_tenant_session(server_engine(dsn), schema, role)
        try:
            for table, key, column in TENANT_ENCRYPTED_COLUMNS:
                rows = tsession.execute(select(table.c[key], table.c[column]).where(table.c[column].is_not(None))).all()
                for row_key, ciphertext in rows:
                    tsession.execute(update(table).where(table.c[key] == row_key)
                                     .values({column: ring.rotate(ciphertext.encode()).decode()}))
                count += len(rows)
            tsession.commit()
        except InvalidToken:
            tsession.rollback()
            log.error("tenant %s holds a secret encrypted with a key no longer in the ring", slug)
            failed.append(slug)
        finally:
            tsession.close()
    log.info("re-encrypted %s secret value(s) inside tenant schemas with the newest key", count)
    return count, failed


def rotate_secrets(session: Session, *, batch_size: int = 500) -> int:
    """Re-encrypt every secret with the newest key, ``batch_size`` at a time; returns the count.

    Fails (changing nothing once the caller rolls back) if a secret was
    encrypted with a key no longer in the ring.
    """
    ring = key_ring()
    table = TenantSecret.__table__
    stmt = (update(table).where(table.c.id == bindparam("b_id"))
            .values(ciphertext=bindparam("b_ct"), updated_at=bindparam("b_at")))
    count, last_id = 0, 0
    while True:
        rows = session.execute(
            select(table.c.id, table.c.ciphertext).where(table.c.id > last_id)
            .order_by(table.c.id).limit(batch_size)
        ).all()
        if not rows:
            break
        now = utcnow()
        params = []
        for secret_id, ciphertext in rows:
            try:
                params.append({"b_id": secret_id, "b_ct": ring.rotate(ciphertext), "b_at": now})
            except InvalidToken:
                raise _undecryptable(secret_id) from None
        session.connection().execute(stmt, params)
        count += len(rows)
        last_id = rows[-1][0]
    session.expire_all()  # loaded TenantSecret objects hold the old ciphertexts
    log.info("re-encrypted %s tenant secret(s) with the newest key", count)
    return count
