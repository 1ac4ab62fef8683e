"""With REDIS_URL set, rate-limit counters live in Redis: every web process shares them.

Two separate processes, each with its own app, hit the token endpoint of one scheme with a bad
secret; the second process is refused at once because the first used up the shared budget.
"""

import json
import os
import subprocess
import sys
import uuid

import pytest

SCRIPT = r"""
import json, sys
from schemehost.platform.app import create_app
settings = json.loads(sys.argv[1])
app = create_app(settings)
client = app.test_client()
codes = [client.post(f"/t/{settings['slug']}/oauth/token", data={"grant_type": "client_credentials"},
                     auth=("shc_nobody", "wrong")).status_code for _ in range(int(sys.argv[2]))]
print(json.dumps(codes))
"""


def _redis_up(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def test_counters_are_shared_between_processes_through_redis(database_url, make_tenant, tmp_path):
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if not _redis_up(url):
        pytest.skip(f"no Redis at {url}")
    tenant = make_tenant()
    settings = {"DATABASE_URL": database_url, "SCHEMEHOST_INSTANCE": str(tmp_path), "REDIS_URL": url,
                "TOKEN_LIMIT": "3 per minute", "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
                "slug": tenant.slug}

    def run(attempts):
        out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(settings), str(attempts)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert run(3) == [401, 401, 401]
    assert run(1) == [429]  # another process, the same budget
