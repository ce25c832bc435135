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
from urllib.parse import urlsplit

import httpx

from bot.common.settings import PROJECT_ROOT, get_settings

RASA_BIN = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
# Rasa's Redis tracker store replaying one session a turn (rasa_server/tracker_store.py) and a lock store of two
# round trips a turn (rasa_server/lock_store.py), as in production.
TRACKER_STORE = "rasa_server.tracker_store.SessionRedisTrackerStore"
LOCK_STORE = "rasa_server.lock_store.RedisMutexLockStore"


@dataclass
class Servers:
    rasa_url: str
    action_url: str
    token: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)  # [action server, Rasa]
    logs: list[Path] = field(default_factory=list)
    restart_commands: dict[str, object] = field(default_factory=dict)
    endpoints: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def add_rasa(self, model: Path, port: int, timeout: float = 240) -> str:
        """A second Rasa server on the same action server and tracker store (the standby of a blue/green pair);
        its URL. Stopped with the others."""
        assert self.endpoints is not None and self.logs
        log = self.logs[0].with_name(f"rasa-{port}.log")
        self.logs.append(log)
        process = start_rasa(model, port, self.endpoints, self.token, self.env, log)
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        _wait_until(f"{url}/status?token={self.token}", process, timeout)
        return url

    def kill(self, which: str) -> None:
        """Kill the action server ("actions") or Rasa ("rasa") at once, as a crash would."""
        process = self.processes[0 if which == "actions" else 1]
        _kill_group(process)
        process.wait(timeout=20)

    def restart(self, which: str, timeout: float = 240) -> None:
        start = self.restart_commands[which]
        process = start()  # type: ignore[operator]
        self.processes[0 if which == "actions" else 1] = process
        if which == "actions":
            _wait_until(f"{self.action_url}/health", process, timeout)
        else:
            _wait_until(f"{self.rasa_url}/status?token={self.token}", process, timeout)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _kill_group(process)
        self.processes.clear()

    def tail_logs(self, lines: int = 40) -> str:
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
                         for log in self.logs if log.exists())


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a server and its children: Sanic 25 (rasa-sdk 3.21) serves from worker processes that a
    kill of the main process alone leaves running, still answering on the port."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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


def endpoints_yaml(action_url: str, redis_url: str | None, retention_days: int = 7,
                   tracker_db: Path | None = None) -> str:
    """Rasa's endpoints: our action server, and the tracker store every Rasa server shares — Redis (with its lock
    store), or without Redis a SQLite file — so a conversation continues on whichever server is live.

    Rasa sends the whole domain with every action call (23 KB of JSON, 0.1 ms: not worth sparing);
    `enable_selective_domain` would, but rasa-sdk 3.21 then answers 449 (it expects a digest Rasa 3.6 never sends).

    Trackers hold what debtors wrote: in Redis they expire `retention_days` after a conversation's last turn, and
    a turn drops the events older than that (rasa_server/tracker_store.py, which also replays one session a turn).
    """
    text = f'action_endpoint:\n  url: "{action_url}/webhook"\n'
    if not redis_url and tracker_db is not None:
        text += f'tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: "{tracker_db}"\n'
    if redis_url:
        location = urlsplit(redis_url)
        for store, db, kind in (("tracker_store", 0, TRACKER_STORE), ("lock_store", 1, LOCK_STORE)):
            text += (f"{store}:\n  type: {kind}\n  url: {location.hostname}\n  port: {location.port or 6379}\n"
                     f"  db: {db}\n  key_prefix: acuerdo\n")
            if store == "tracker_store":
                text += f"  record_exp: {retention_days * 24 * 3600}\n"
    return text


def start_action_server(action_port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
        cwd=PROJECT_ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True)  # its own process group, killed whole (_kill_group)


def start_rasa(model: Path, rasa_port: int, endpoints: Path, token: str, env: dict[str, str],
               log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        # Rasa's command line with the changes rasa_server/ makes to the running server, as in compose
        [str(RASA_BIN.with_name("python")), "-m", "rasa_server", "run", "--model", str(model), "--enable-api",
         "--auth-token", token, "--interface", "127.0.0.1", "--port", str(rasa_port), "--endpoints", str(endpoints),
         "--credentials", str(PROJECT_ROOT / "credentials.yml")],
        cwd=PROJECT_ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True)


def start(model: Path, rasa_port: int, action_port: int, env: dict[str, str], log_dir: Path,
          token: str, redis_url: str | None = None, tracker_db: Path | None = None) -> Servers:
    """Start both servers and wait until they answer; `env` reaches the action server (DATABASE_URL…)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    servers = Servers(rasa_url=f"http://127.0.0.1:{rasa_port}", action_url=f"http://127.0.0.1:{action_port}",
                      token=token)
    base_env = {"TF_INTRA_OP_PARALLELISM_THREADS": "1", "TF_INTER_OP_PARALLELISM_THREADS": "1",  # as in compose
                **os.environ, **env, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONUNBUFFERED": "1", "SANIC_HOST": "127.0.0.1"}  # the action server on loopback only
    try:
        action_log = log_dir / "action-server.log"
        servers.logs.append(action_log)
        actions = start_action_server(action_port, base_env, action_log)
        servers.processes.append(actions)
        endpoints = Path(tempfile.mkdtemp(dir=log_dir)) / "endpoints.yml"
        endpoints.write_text(endpoints_yaml(servers.action_url, redis_url, get_settings().tracker_retention_days,
                                            tracker_db or log_dir / "trackers.db"), encoding="utf-8")
        servers.endpoints, servers.env = endpoints, base_env
        rasa_log = log_dir / "rasa.log"
        servers.logs.append(rasa_log)
        rasa = start_rasa(model, rasa_port, endpoints, token, base_env, rasa_log)
        servers.processes.append(rasa)
        servers.restart_commands = {
            "actions": lambda: start_action_server(action_port, base_env, action_log),
            "rasa": lambda: start_rasa(model, rasa_port, endpoints, token, base_env, rasa_log),
        }
        _wait_until(f"{servers.action_url}/health", actions, timeout=60)
        _wait_until(f"{servers.rasa_url}/status?token={token}", rasa, timeout=240)
    except BaseException:
        logs = servers.tail_logs()
        servers.stop()
        if isinstance(logs, str) and logs:
            print(logs, file=sys.stderr)
        raise
    return servers
