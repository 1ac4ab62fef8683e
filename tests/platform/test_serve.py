"""`schemehost serve` really serves (a CLI command must not rely on ``app.run()``)."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def test_serve_answers_health_and_readiness(app, database_url, tmp_path):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SCHEMEHOST_INSTANCE": str(tmp_path),
           "SECRET_KEY": "serve-test"}
    proc = subprocess.Popen([sys.executable, "-m", "schemehost.platform.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        status = None
        deadline = time.monotonic() + 60  # a bound on waiting for start-up, not a timing assertion
        while status is None and proc.poll() is None and time.monotonic() < deadline:
            status = _get(f"http://127.0.0.1:{port}/healthz")
            if status is None:
                time.sleep(0.2)
        assert status == 200, f"serve did not answer (exit code {proc.poll()})"
        assert _get(f"http://127.0.0.1:{port}/readyz") == 200
    finally:
        proc.terminate()
        try:
            output = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0]
    assert "Ignoring a call to 'app.run()'" not in output
