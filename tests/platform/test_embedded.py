"""With DATABASE_URL unset, schemehost runs on an embedded PostgreSQL in its instance folder."""

import os
import subprocess
import sys
from pathlib import Path

import psutil


def run_cli(instance: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SCHEMEHOST_INSTANCE"] = str(instance)
    return subprocess.run([sys.executable, "-m", "schemehost.platform.cli", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def postgres_running_in(pgdata: Path) -> bool:
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        if proc.info["name"] == "postgres" and any(str(pgdata) in part for part in proc.info["cmdline"] or []):
            return True
    return False


def test_embedded_postgres_is_started_reused_and_stopped(tmp_path):
    first = run_cli(tmp_path, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "control plane at" in first.stdout
    pgdata = tmp_path / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert not postgres_running_in(pgdata)  # stopped cleanly when the command exited
    created = run_cli(tmp_path, "partners", "create", "acme", "--name", "Acme")
    assert created.returncode == 0, created.stderr
    listed = run_cli(tmp_path, "partners", "list")  # a second run reuses the same data
    assert listed.returncode == 0 and "acme" in listed.stdout
    assert not postgres_running_in(pgdata)


def test_serve_on_embedded_postgres_stops_it_on_sigterm(tmp_path):
    import socket
    import time
    import urllib.request

    assert run_cli(tmp_path, "db", "upgrade").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SCHEMEHOST_INSTANCE"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "schemehost.platform.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = None
        deadline = time.monotonic() + 90  # a bound on start-up, not a timing assertion
        while ready is None and proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
                    ready = resp.status
            except OSError:
                time.sleep(0.3)
        assert ready == 200
        assert postgres_running_in(tmp_path / "pgdata")
    finally:
        proc.terminate()
        proc.wait(60)
    assert not postgres_running_in(tmp_path / "pgdata")
