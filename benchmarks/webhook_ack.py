"""Twilio's acknowledgement alone: `python -m benchmarks.webhook_ack` (part of `make bench`).

The app in REST mode (as in production: REPLIES_IN_APP=false, so the conversation goes onto a Redis list) with
PostgreSQL and Redis, and nothing on the reply side: no Rasa, no reply worker, so the numbers are the webhook's
own. N debtors (default 50) send their first message at the same instant, then three more, each round of them
at one instant too (a campaign's replies arriving together: the worst case for a queue in front of the app).
Prints the acknowledgement as the client saw it and inside the app (`Server-Timing`), and the CPU each process
spent per webhook. Every message is checked stored and queued at the end.
"""
from __future__ import annotations

import argparse
import http.client
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import redis
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from api.replies import QUEUE_KEY
from benchmarks.campaigns import fresh_database
from benchmarks.gateway import OUR_NUMBER, PUBLIC, TOKEN, conversation_of, percentile, phone_of, seed, start_app
from benchmarks.profiling import CpuMeter
from bot.common.heap import freeze_startup_objects
from scripts.services import start_postgres, start_redis

PATH = "/webhooks/twilio/whatsapp"


class Herd:
    """N debtors' webhooks released at one instant: one thread and one open connection each, forms signed
    beforehand, so the clock runs from the release to the answer."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._validator = RequestValidator(TOKEN)
        self._sids = iter(range(10**9))

    def _signed(self, debtor: int, body: str) -> tuple[bytes, dict[str, str]]:
        form = {"From": f"whatsapp:{phone_of(debtor)}", "To": OUR_NUMBER, "Body": body,
                "MessageSid": f"SMack{next(self._sids):028d}", "NumMedia": "0"}
        signature = self._validator.compute_signature(PUBLIC + PATH, form)
        return urlencode(form).encode(), {"X-Twilio-Signature": signature,
                                          "Content-Type": "application/x-www-form-urlencoded"}

    def release(self, messages: list[tuple[int, str]]) -> tuple[list[float], list[float]]:
        """(ms until each answer, ms inside the app for each)."""
        requests = [self._signed(debtor, body) for debtor, body in messages]
        connections = [http.client.HTTPConnection("127.0.0.1", self._port, timeout=30) for _ in messages]
        for connection in connections:
            connection.connect()
        start = threading.Barrier(len(messages))
        waited, inside = [0.0] * len(messages), [0.0] * len(messages)
        failures: list[str] = []

        def send(index: int) -> None:
            body, headers = requests[index]
            start.wait()
            began = time.perf_counter()
            connections[index].request("POST", PATH, body=body, headers=headers)
            response = connections[index].getresponse()
            response.read()
            waited[index] = (time.perf_counter() - began) * 1000
            inside[index] = float((response.getheader("Server-Timing") or "dur=nan").partition("dur=")[2])
            if response.status != 200:
                failures.append(f"{response.status} for {messages[index]}")

        threads = [threading.Thread(target=send, args=(index,)) for index in range(len(messages))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for connection in connections:
            connection.close()
        if failures:
            raise RuntimeError(f"webhooks failed: {failures[:3]}")
        return waited, inside


def line(label: str, waited: list[float], inside: list[float]) -> str:
    return (f"  {label:<28} {len(waited):>5} acks  p50 {statistics.median(waited):6.1f}  "
            f"p99 {percentile(waited, 0.99):6.1f}  max {max(waited):6.1f} ms   in the app: p50 "
            f"{statistics.median(inside):6.1f}  p99 {percentile(inside, 0.99):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=8, help="fresh debtors each round; 4 messages each")
    parser.add_argument("--app-workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()
    postgres, redis_server = start_postgres(), start_redis()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = fresh_database(postgres, "ack")
            seed(url, 1, args.debtors * (args.rounds + 1))
            env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_server.url, "PUBLIC_BASE_URL": PUBLIC,
                   "TWILIO_AUTH_TOKEN": TOKEN, "RASA_URL": "http://127.0.0.1:9", "RETRY_INTERVAL_SECONDS": "3600",
                   "NLU_INBOX_REFRESH_MINUTES": "0", "MODEL_JOBS_IN_APP": "false"}
            app = start_app(env, "rest", Path(tmp) / "app.log", workers=args.app_workers)
            try:
                herd = Herd(int(app.url.rsplit(":", 1)[1]))
                warm = range(args.debtors * args.rounds + 1, args.debtors * (args.rounds + 1) + 1)
                for body in ("hola", "otra vez"):  # not counted: the app's connections and compiled statements
                    herd.release([(debtor, body) for debtor in warm])
                postgres_pid = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
                meter = CpuMeter({"app": app.process.pid, "PostgreSQL": postgres_pid,
                                  "Redis": redis_server.process.pid})
                freeze_startup_objects()  # this client's own collections would stall its threads mid-measurement
                meter.start()
                first: tuple[list[float], list[float]] = ([], [])
                later: tuple[list[float], list[float]] = ([], [])
                for round_ in range(args.rounds):
                    debtors = range(1 + round_ * args.debtors, 1 + (round_ + 1) * args.debtors)
                    for turn in range(4):
                        waited, inside = herd.release([(debtor, conversation_of(debtor)[turn]) for debtor in debtors])
                        into = first if turn == 0 else later
                        into[0].extend(waited)
                        into[1].extend(inside)
                        time.sleep(0.3)  # the herd's tail settles before the next one
                cpu = meter.stop()
                webhooks = args.rounds * args.debtors * 4
                print(f"Webhook acknowledgement alone (REST mode, PostgreSQL, {args.debtors} debtors at one instant, "
                      f"{args.rounds} rounds, {args.app_workers} app process(es))")
                print(line("first message", *first))
                print(line("messages 2 to 4", *later))
                print(line("all", first[0] + later[0], first[1] + later[1]))
                print("  CPU a webhook: " + " + ".join(f"{name} {seconds * 1000 / webhooks:.2f}"
                                                        for name, seconds in cpu.items())
                      + f" = {sum(cpu.values()) * 1000 / webhooks:.2f} ms")
                engine = create_engine(url)
                with engine.connect() as connection:
                    stored = connection.execute(text("SELECT count(*) FROM messages")).scalar_one()
                engine.dispose()
                queued = redis.Redis.from_url(redis_server.url).llen(QUEUE_KEY)
                expected = webhooks + 2 * args.debtors
                if stored != expected or queued != expected:
                    raise SystemExit(f"expected {expected} messages stored and queued: {stored} and {queued}")
            finally:
                app.stop()
    finally:
        redis_server.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
