"""Start the action server and the Rasa server as child processes (demo and end-to-end tests).

Rasa runs from .venv-rasa with `--model` on the recorded active model, its HTTP API behind a token, on
127.0.0.1 only; the action server runs from .venv. They talk over HTTP, as in production.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.settings import PROJECT_ROOT

RASA_BIN = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"


@dataclass
class Servers:
    rasa_url: str
    action_url: str
    token: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    def tail_logs(self, lines: int = 40) -> str:
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
                         for log in self.logs if log.exists())


def _wait_until(url: str, process: subprocess.Popen[bytes], timeout: float, headers: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with code {process.returncode}")
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def start(model: Path, rasa_port: int, action_port: int, env: dict[str, str], log_dir: Path,
          token: str) -> Servers:
    """Start both servers and wait until they answer; `env` reaches the action server (DATABASE_URL…)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    servers = Servers(rasa_url=f"http://127.0.0.1:{rasa_port}", action_url=f"http://127.0.0.1:{action_port}",
                      token=token)
    base_env = {**os.environ, **env, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONUNBUFFERED": "1"}
    try:
        action_log = log_dir / "action-server.log"
        servers.logs.append(action_log)
        actions = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
            cwd=PROJECT_ROOT, env=base_env, stdout=action_log.open("wb"), stderr=subprocess.STDOUT)
        servers.processes.append(actions)
        endpoints = Path(tempfile.mkdtemp(dir=log_dir)) / "endpoints.yml"
        endpoints.write_text(f'action_endpoint:\n  url: "{servers.action_url}/webhook"\n', encoding="utf-8")
        rasa_log = log_dir / "rasa.log"
        servers.logs.append(rasa_log)
        rasa = subprocess.Popen(
            [str(RASA_BIN), "run", "--model", str(model), "--enable-api", "--auth-token", token,
             "--interface", "127.0.0.1", "--port", str(rasa_port), "--endpoints", str(endpoints),
             "--credentials", str(PROJECT_ROOT / "credentials.yml")],
            cwd=PROJECT_ROOT, env=base_env, stdout=rasa_log.open("wb"), stderr=subprocess.STDOUT)
        servers.processes.append(rasa)
        _wait_until(f"{servers.action_url}/health", actions, timeout=60)
        _wait_until(f"{servers.rasa_url}/status?token={token}", rasa, timeout=240)
    except BaseException:
        logs = servers.tail_logs()
        servers.stop()
        if isinstance(logs, str) and logs:
            print(logs, file=sys.stderr)
        raise
    return servers
