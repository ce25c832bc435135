"""Gateway throughput and latency under load: `make bench` (or `python -m benchmarks.gateway`).

N simulated debtors (default 50) each send a short conversation at the same time through the signed
Twilio webhook of the real app (uvicorn, PostgreSQL, Redis locks, Rasa with Redis tracker and lock stores,
the real action server). Then the same load goes straight to Rasa's REST channel, in the same run, so the
gateway's own cost shows as the ratio between the two.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from bot.admin.rasa_model import active_model, model_path
from bot.common.settings import get_settings
from bot.ledger.db import migrate, reset_engines
from scripts import servers
from scripts.services import free_port, start_postgres, start_redis

CONVERSATION = ["hola", "1234", "eres un robot?", "gracias"]
TOKEN = "bench-twilio-token"
PUBLIC = "https://bench.acuerdo.example"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def drive(debtors: int, send: Callable[[int, int, str], None]) -> tuple[float, list[float]]:
    """Every debtor sends the conversation in order; all debtors at once. Returns (seconds, latencies ms)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def debtor(index: int) -> None:
        for turn, message in enumerate(CONVERSATION):
            began = time.perf_counter()
            send(index, turn, message)
            with lock:
                latencies.append((time.perf_counter() - began) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=debtors) as pool:
        list(pool.map(debtor, range(debtors)))
    return time.perf_counter() - started, latencies


def report(label: str, seconds: float, latencies: list[float]) -> float:
    rate = len(latencies) / seconds
    print(f"  {label:<28} {len(latencies):>5} msgs in {seconds:6.1f} s = {rate:6.1f} msg/s   "
          f"p50 {statistics.median(latencies):7.1f} ms  p95 {percentile(latencies, 0.95):7.1f} ms  "
          f"p99 {percentile(latencies, 0.99):7.1f} ms")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--debtors", type=int, default=50)
    args = parser.parse_args()
    model = active_model()
    if model is None or model != model_path():
        raise SystemExit("no model for the current inputs: run `make model` first")
    postgres, redis = start_postgres(), start_redis()
    engine = create_engine(postgres.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text('CREATE DATABASE "bench"'))
    engine.dispose()
    database_url = postgres.url("bench")
    migrate(database_url)
    with tempfile.TemporaryDirectory() as tmp:
        running = servers.start(model, free_port(), free_port(), env={"DATABASE_URL": database_url},
                                log_dir=Path(tmp), token="bench", redis_url=redis.url)
        os.environ.update({"DATABASE_URL": database_url, "REDIS_URL": redis.url, "RASA_URL": running.rasa_url,
                           "PUBLIC_BASE_URL": PUBLIC, "TWILIO_AUTH_TOKEN": TOKEN, "RETRY_INTERVAL_SECONDS": "3600",
                           "RASA_TIMEOUT_SECONDS": "30"})
        get_settings.cache_clear()
        reset_engines()
        from api.main import create_app

        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning",
                                               workers=1))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.1)
        validator = RequestValidator(TOKEN)
        try:
            with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=args.debtors)) as client:
                def via_gateway(index: int, turn: int, message: str) -> None:
                    form = {"From": f"whatsapp:+52155{index:08d}", "To": "whatsapp:+15550001111", "Body": message,
                            "MessageSid": f"SMbench{index:08d}{turn:04d}", "NumMedia": "0"}
                    signature = validator.compute_signature(PUBLIC + "/webhooks/twilio/whatsapp", form)
                    response = client.post(f"http://127.0.0.1:{port}/webhooks/twilio/whatsapp", data=form,
                                           headers={"X-Twilio-Signature": signature})
                    assert response.status_code == 200 and "<Message>" in response.text, response.text

                def straight_to_rasa(index: int, turn: int, message: str) -> None:
                    response = client.post(f"{running.rasa_url}/webhooks/rest/webhook",
                                           json={"sender": f"direct:{index}", "message": message})
                    assert response.status_code == 200 and response.json(), response.text

                drive(5, straight_to_rasa)  # warm-up (not counted)
                print(f"Gateway load: {args.debtors} debtors at once, {len(CONVERSATION)} messages each "
                      f"(PostgreSQL, Redis, Rasa with Redis stores, 2 cores)")
                gateway_rate = report("signed webhook (gateway)", *drive(args.debtors, via_gateway))
                rasa_rate = report("Rasa REST channel directly", *drive(args.debtors, straight_to_rasa))
                print(f"  gateway throughput / Rasa throughput = {gateway_rate / rasa_rate:.2f}")
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            running.stop()
            redis.stop()
            postgres.stop()


if __name__ == "__main__":
    main()
