"""Settings read from the environment (12-factor), with a testing variant."""

from __future__ import annotations

import os
from pathlib import Path


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Production defaults; every value can be overridden by an environment variable."""

    TESTING = False

    def __init__(self) -> None:
        env = os.environ
        self.DATABASE_URL: str | None = env.get("DATABASE_URL") or None
        self.SECRET_KEY: str = env.get("SECRET_KEY", "")
        self.BASE_DOMAIN: str = env.get("BASE_DOMAIN", "localhost").lower()
        self.SCHEMEHOST_INSTANCE: str = env.get(
            "SCHEMEHOST_INSTANCE", str(Path.cwd() / "instance")
        )
        # Comma-separated Fernet keys, newest first (see `schemehost secrets rotate`).
        self.SECRET_KEYS: str = env.get("SCHEMEHOST_SECRET_KEYS", "")
        self.TENANT_STATEMENT_TIMEOUT_MS: int = int(env.get("SCHEMEHOST_TENANT_STATEMENT_TIMEOUT_MS", "30000"))
        self.WARM_POOL_SIZE: int = int(env.get("SCHEMEHOST_WARM_POOL_SIZE", "3"))
        # Extra template folders (os.pathsep-separated), searched before the shipped templates.
        self.TEMPLATE_DIRS: str = env.get("SCHEMEHOST_TEMPLATE_DIRS", "")
        self.DELETE_GRACE_DAYS: int = int(env.get("SCHEMEHOST_DELETE_GRACE_DAYS", "30"))
        # at most 2 s: a suspended tenant must be refused within it (docs/decisions/0061)
        self.TENANT_CACHE_TTL_S: float = float(env.get("SCHEMEHOST_TENANT_CACHE_TTL_S", "1"))
        self.POOL_RECYCLE_S: int = int(env.get("SCHEMEHOST_POOL_RECYCLE_S", "900"))
        self.POOL_SIZE: int = int(env.get("SCHEMEHOST_POOL_SIZE", "5"))
        self.POOL_PRE_PING: bool = _bool(env.get("SCHEMEHOST_POOL_PRE_PING"), False)
        # prepared statements kept per database connection (psycopg's default); tenant statements differ
        # per schema: raise it above (tenants in use) x (their hot statements) (docs/decisions/0093)
        self.PREPARED_MAX: int = int(env.get("SCHEMEHOST_PREPARED_MAX", "100"))
        self.REDIS_URL: str | None = env.get("REDIS_URL") or None
        self.SIGNIN_LIMIT: str = env.get("SCHEMEHOST_SIGNIN_LIMIT", "10 per minute;50 per hour")
        self.TOKEN_LIMIT: str = env.get("SCHEMEHOST_TOKEN_LIMIT", "60 per minute")
        self.RESET_LIMIT: str = env.get("SCHEMEHOST_RESET_LIMIT", "5 per 15 minutes")
        # tenant console sessions: absolute lifetime, and idle timeout of every session (decision 0074)
        self.TENANT_SESSION_HOURS: int = int(env.get("SCHEMEHOST_TENANT_SESSION_HOURS", "12"))
        self.SESSION_IDLE_MINUTES: int = int(env.get("SCHEMEHOST_SESSION_IDLE_MINUTES", "60"))
        # seconds between a correct password and the second factor (platform/mfa.py)
        self.MFA_PENDING_SECONDS: int = int(env.get("SCHEMEHOST_MFA_PENDING_SECONDS", "300"))
        # lifetime of OAuth 2 access tokens of tenant API clients
        self.OAUTH_TOKEN_TTL_S: int = int(env.get("SCHEMEHOST_OAUTH_TOKEN_TTL_S", "600"))
        # SMTP for invitations and password resets (tests run a local aiosmtpd server)
        self.SMTP_HOST: str = env.get("SCHEMEHOST_SMTP_HOST", "localhost")
        self.SMTP_PORT: int = int(env.get("SCHEMEHOST_SMTP_PORT", "25"))
        self.SMTP_USER: str | None = env.get("SCHEMEHOST_SMTP_USER") or None
        self.SMTP_PASSWORD: str | None = env.get("SCHEMEHOST_SMTP_PASSWORD") or None
        self.SMTP_STARTTLS: bool = _bool(env.get("SCHEMEHOST_SMTP_STARTTLS"), False)
        self.MAIL_FROM: str = env.get("SCHEMEHOST_MAIL_FROM", "schemehost <no-reply@localhost>")
        # when set, /metrics asks for "Authorization: Bearer <token>" (decision 0063)
        self.METRICS_TOKEN: str | None = env.get("SCHEMEHOST_METRICS_TOKEN") or None
        # seconds between writes of each process's request counts per tenant (cost of service; decision 0064)
        self.REQUEST_METER_FLUSH_S: float = float(env.get("SCHEMEHOST_REQUEST_METER_FLUSH_S", "60"))
        self.LOG_LEVEL: str = env.get("SCHEMEHOST_LOG_LEVEL", "INFO")
        self.SESSION_COOKIE_SECURE: bool = _bool(env.get("SCHEMEHOST_SECURE_COOKIES"), False)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.BABEL_DEFAULT_LOCALE = env.get("SCHEMEHOST_DEFAULT_LOCALE", "en")
        self.LANGUAGES = ["en", "fr"]
        # flask-smorest / OpenAPI
        self.API_TITLE = "schemehost control API"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/api/v1"
        self.OPENAPI_JSON_PATH = "openapi.json"
        self.PROPAGATE_EXCEPTIONS = False


class TestingConfig(Config):
    """Used by the test suite: CSRF off for API-level tests, fast hashing."""

    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        self.WARM_POOL_SIZE = 0
        self.REQUEST_METER_FLUSH_S = 0.0  # tests flush request counts themselves
        self.SECRET_KEY = self.SECRET_KEY or "test-secret-key"
        # the whole suite signs in from 127.0.0.1; tests of the limit set a small one themselves
        self.SIGNIN_LIMIT = os.environ.get("SCHEMEHOST_SIGNIN_LIMIT", "1000 per minute")


def instance_file(instance: Path, name: str, make) -> str:
    """A value kept in the instance folder: made once with ``make()``, readable by its owner only."""
    path = Path(instance) / name
    if not path.exists():
        path.write_text(make() + "\n")
        path.chmod(0o600)
    return path.read_text().strip()
