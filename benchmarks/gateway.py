"""A burst of replies to a reminder campaign: `make bench` (or `python -m benchmarks.gateway`).

The real stack runs as in production, each part its own process: PostgreSQL, Redis, Rasa (Redis tracker and
lock stores), the action server, two app processes (uvicorn; one answering Twilio with TwiML, one in
REPLY_MODE=rest sending replies with the official SDK through a local fake of Twilio's API, a process of its
own). The portfolio holds 100,000 debtors. N debtors (default 50) at once each verify themselves and ask for
their balance (4 messages, each sent when the previous one was answered):

1. straight to Rasa's REST channel (the same senders' conversations, without the gateway);
2. through the signed Twilio webhook, TwiML mode (the whole path: gateway + Rasa + actions);
3. through the webhook in REST mode: how long Twilio waits for our acknowledgement, and how long the debtor
   waits for the reply;
4. the TwiML burst again under py-spy: CPU per process and where each message's time goes, stage by stage;
5. one debtor at a time: a message on a short tracker (~10 events) and on a long one (~200), and a
   portfolio of 1,000 debtors against 100,000.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from benchmarks.campaigns import fresh_database
from benchmarks.profiling import IDLE, CpuMeter, Roots, Rule, Sampler, classify, pids_of, set_niceness
from bot.admin.rasa_model import active_model, model_path
from bot.common.heap import freeze_startup_objects
from bot.common.settings import PROJECT_ROOT
from bot.messaging.dialogue import replica_for
from scripts import servers
from scripts.services import free_port, start_postgres, start_redis
from tests.fakes.twilio_api import FakeTwilio

TOKEN = "bench-twilio-token"
RASA_TOKEN = "bench"
PUBLIC = "https://bench.acuerdo.example"
OUR_NUMBER = "whatsapp:+15550001111"
PORTFOLIO = 100_000
SMALL_PORTFOLIO = 1_000
# An experiment (README, "Performance", third round): the reply side (Rasa, the action server, reply workers) at a
# lower priority than the webhooks' app. Off by default, as in compose: starved, the reply side holds its row and
# Redis locks longer. CFS weights: nice 10 is 110 against nice 0's 1024.
REPLY_SIDE_NICE = 0
FAKE_TWILIO = "the fake Twilio"

SEED = [
    """INSERT INTO creditors (code, name, created_at) VALUES ('banco-aurora', 'Banco Aurora', now())
       ON CONFLICT DO NOTHING""",
    """INSERT INTO debtors (external_id, full_name, document_id, country, is_demo, extra, created_at, updated_at)
       SELECT 'D' || g, 'Deudor ' || g, lpad(g::text, 8, '0'), 'MX', false, '{}', now(), now()
       FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) g""",
    """INSERT INTO phones (debtor_id, e164, verified, wrong_number, created_at)
       SELECT d.id, '+5255' || lpad(substr(d.external_id, 2), 8, '0'), false, false, now()
       FROM debtors d JOIN generate_series(CAST(:first AS integer), CAST(:last AS integer)) g
            ON d.external_id = 'D' || g""",
    """INSERT INTO accounts (external_id, creditor_id, debtor_id, product, currency, principal, interest, fees,
                             due_date, status, created_at, updated_at)
       SELECT 'A' || substr(d.external_id, 2), (SELECT id FROM creditors WHERE code = 'banco-aurora'), d.id,
              'Préstamo', 'MXN', 1000 + d.id % 5000, d.id % 300, 0, current_date - (d.id % 90), 'active',
              now() - interval '90 days', now()
       FROM debtors d JOIN generate_series(CAST(:first AS integer), CAST(:last AS integer)) g
            ON d.external_id = 'D' || g""",
    "ANALYZE",
]


def seed(url: str, first: int, last: int) -> None:
    """Debtors `first`..`last` (Mexico), each with one WhatsApp number and one overdue account."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in SEED:
            connection.execute(text(statement), {"first": first, "last": last})
    engine.dispose()


def phone_of(debtor: int) -> str:
    return f"+5255{debtor:08d}"


def conversation_of(debtor: int) -> list[str]:
    """Hello, the last four digits of the document, the balance, thanks: the commonest reply to a reminder."""
    return ["hola", f"{debtor:08d}"[-4:], "cuanto debo?", "gracias"]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


@dataclass
class Burst:
    label: str
    seconds: float
    latencies: list[float]  # ms until the debtor had the reply
    acks: list[float]  # ms until the webhook answered (REST mode), else empty
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds each process tree spent during the burst
    first: list[float] = field(default_factory=list)  # of `latencies`, each debtor's first message (all at once)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def line(self) -> str:
        return (f"  {self.label:<34} {len(self.latencies):>4} msgs {self.seconds:6.1f} s {self.rate:6.1f} msg/s"
                f"  p50 {statistics.median(self.latencies):6.0f}  p95 {percentile(self.latencies, 0.95):6.0f}"
                f"  p99 {percentile(self.latencies, 0.99):6.0f} ms")

    def first_and_later(self) -> str:
        """The first message of every debtor arrives at one instant; the later ones as each debtor is answered."""
        later = list(self.latencies)
        for ms in self.first:
            later.remove(ms)
        return (f"    first message p50 {statistics.median(self.first):6.0f}  p95 {percentile(self.first, 0.95):6.0f}"
                f" ms; messages 2 to 4 p50 {statistics.median(later):6.0f}  p95 {percentile(later, 0.95):6.0f} ms")


def drive(label: str, debtors: range, send: Callable[[int, int, str], float | None],
          roots: dict[str, Roots] | None = None) -> Burst:
    """Every debtor sends its conversation in order, all at once; `send` returns the ack time (REST mode).
    With `roots`, the CPU each of those process trees spent meanwhile (from /proc: no profiler attached)."""
    latencies: list[float] = []
    first: list[float] = []
    acks: list[float] = []
    lock = threading.Lock()

    def debtor(number: int) -> None:
        for turn, message in enumerate(conversation_of(number)):
            began = time.perf_counter()
            ack = send(number, turn, message)
            with lock:
                latencies.append((time.perf_counter() - began) * 1000)
                if turn == 0:
                    first.append(latencies[-1])
                if ack is not None:
                    acks.append(ack)

    meter = CpuMeter(roots or {})
    meter.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(debtors)) as pool:
        list(pool.map(debtor, debtors))
    seconds = time.perf_counter() - started
    return Burst(label, seconds, latencies, acks, meter.stop(), first)


class SentReplies(list[dict[str, str]]):
    """The fake Twilio's record of sent messages; a debtor's thread waits here for its reply."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = threading.Condition()
        self._count: Counter[str] = Counter()

    def append(self, item: dict[str, str]) -> None:
        with self._changed:
            super().append(item)
            self._count[item.get("To", "")] += 1
            self._changed.notify_all()

    def count_to(self, to: str) -> int:
        with self._changed:
            return self._count[to]

    def wait_for(self, to: str, more_than: int, timeout: float = 60) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._count[to] > more_than, timeout=timeout):
                raise TimeoutError(f"no reply to {to} within {timeout:.0f} s")


class _Forwarded(list[dict[str, str]]):
    """The fake's record in its own process: every send also goes to the benchmark's `SentReplies`."""

    def __init__(self, out: multiprocessing.Queue[dict[str, str] | None]) -> None:
        super().__init__()
        self._out = out

    def append(self, item: dict[str, str]) -> None:
        super().append(item)
        self._out.put(item)


def _serve_fake_twilio(sent: multiprocessing.Queue[dict[str, str] | None], url: multiprocessing.Queue[str]) -> None:
    url.put(FakeTwilio(sent=_Forwarded(sent)).start().url)
    threading.Event().wait()  # until terminated


@contextmanager
def fake_twilio_apart(sent: SentReplies) -> Iterator[tuple[str, int]]:
    """The fake Twilio in a process of its own (its URL and pid): Twilio's API is not in the interpreter that sends
    the webhooks, and in the benchmark's its threads held the lock the debtors' threads need to note an
    acknowledgement. Its sends reach `sent` through a queue."""
    context = multiprocessing.get_context("spawn")
    sends: multiprocessing.Queue[dict[str, str] | None] = context.Queue()
    urls: multiprocessing.Queue[str] = context.Queue()
    process = context.Process(target=_serve_fake_twilio, args=(sends, urls), name="fake-twilio", daemon=True)
    process.start()

    def forward() -> None:
        for item in iter(sends.get, None):
            sent.append(item)

    relay = threading.Thread(target=forward, daemon=True)
    relay.start()
    try:
        yield urls.get(timeout=60), process.pid or 0
    finally:
        process.terminate()
        process.join(timeout=20)
        sends.put(None)
        relay.join(timeout=20)


@dataclass
class App:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def start_app(env: dict[str, str], reply_mode: str, log: Path, workers: int = 1) -> App:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--workers", str(workers)],
        cwd=PROJECT_ROOT, env={**env, "REPLY_MODE": reply_mode, "REPLIES_IN_APP": "false"}, stdout=log.open("ab"),
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return App(url, process)
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"the app ({reply_mode}) did not start: {log.read_text()[-2000:]}")


def start_reply_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """REST mode as in production: reply workers apart from the app (api.replies)."""
    process = subprocess.Popen([sys.executable, "-m", "api.replies"], cwd=PROJECT_ROOT, env=env,
                               stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while b"reply worker started" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the reply worker did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return process


class Load:
    """Sends one debtor's message by each route.

    A light client (http.client, one keep-alive connection per thread and server, the form signed before the
    clock starts): 50 debtor threads in one Python process must not measure their own interpreter lock."""

    def __init__(self, rasa_urls: list[str], twiml_app: App, rest_app: App, sent: SentReplies) -> None:
        self._rasa, self._twiml, self._rest, self._sent = rasa_urls, twiml_app, rest_app, sent
        self._validator = RequestValidator(TOKEN)
        self._sids = iter(range(10**9))
        self._sid_lock = threading.Lock()
        self._local = threading.local()
        self.acks_by_turn: dict[int, list[float]] = {}
        self.acks_in_app_by_turn: dict[int, list[float]] = {}
        self.replies_per_turn: list[int] = []  # how many messages the bot answers each of the conversation's with

    def learn_replies(self, debtor: int) -> None:
        """How many replies each message of the conversation gets (from the TwiML answers, which hold them all): in
        REST mode the debtor has been answered when all of them have left, not at the first."""
        self.replies_per_turn = [self._twiml_replies(debtor, turn, message)
                                 for turn, message in enumerate(conversation_of(debtor))]

    def _request(self, url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        connections: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("connections", {})
        location = urlsplit(url)
        for attempt in range(2):
            connection = connections.get(url)
            if connection is None:
                connection = connections[url] = http.client.HTTPConnection(location.hostname or "",
                                                                           location.port, timeout=60)
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                self._local.server_timing = response.getheader("Server-Timing") or ""
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):  # the server closed a kept-alive connection
                connection.close()
                del connections[url]
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _signed(self, debtor: int, message: str) -> tuple[bytes, dict[str, str]]:
        with self._sid_lock:
            sid = next(self._sids)
        form = {"From": f"whatsapp:{phone_of(debtor)}", "To": OUR_NUMBER, "Body": message,
                "MessageSid": f"SMbench{sid:026d}", "NumMedia": "0"}
        signature = self._validator.compute_signature(PUBLIC + "/webhooks/twilio/whatsapp", form)
        return urlencode(form).encode(), {"X-Twilio-Signature": signature,
                                          "Content-Type": "application/x-www-form-urlencoded"}

    def rasa(self, debtor: int, _turn: int, message: str) -> None:
        """Straight to Rasa's REST channel, each debtor on the replica the gateway would pick."""
        sender = f"whatsapp:{phone_of(debtor)}"
        body = json.dumps({"sender": sender, "message": message, "metadata": {"channel": "whatsapp"}}).encode()
        status, answer = self._request(replica_for(self._rasa, sender), "/webhooks/rest/webhook", body,
                                       {"Content-Type": "application/json"})
        assert status == 200 and json.loads(answer), answer

    def twiml(self, debtor: int, turn: int, message: str) -> None:
        self._twiml_replies(debtor, turn, message)

    def _twiml_replies(self, debtor: int, turn: int, message: str) -> int:
        body, headers = self._signed(debtor, message)
        status, answer = self._request(self._twiml.url, "/webhooks/twilio/whatsapp", body, headers)
        replies = answer.count(b"<Message>")
        assert status == 200 and replies, answer
        return replies

    def rest(self, debtor: int, turn: int, message: str) -> float:
        to = f"whatsapp:{phone_of(debtor)}"
        before = self._sent.count_to(to)
        body, headers = self._signed(debtor, message)
        began = time.perf_counter()
        status, answer = self._request(self._rest.url, "/webhooks/twilio/whatsapp", body, headers)
        ack = (time.perf_counter() - began) * 1000
        self.acks_by_turn.setdefault(turn, []).append(ack)
        in_app = float(self._local.server_timing.partition("dur=")[2] or "nan")
        self.acks_in_app_by_turn.setdefault(turn, []).append(in_app)
        assert status == 200 and b"<Message>" not in answer, answer
        assert before == sum(self.replies_per_turn[:turn]), (to, turn, before)  # every earlier reply, nothing more
        self._sent.wait_for(to, before + self.replies_per_turn[turn] - 1)
        return ack


# --- where the time goes -------------------------------------------------------------------------------
RULES = {
    "app": [
        Rule("webhook: signature, form", ("signed_form (", "read_body_capped", "request_validator")),
        Rule("conversation lock (Redis)", ("hold (bot/messaging/locks",)),
        Rule("dialogue: waiting for Rasa", ("respond (bot/messaging/dialogue",)),
        Rule("storing the message (SQL)", ("store (bot/messaging/gateway",)),
        Rule("storing the replies (SQL)", ("_finish (bot/messaging/gateway",)),
        Rule("reading it: mode, opt-out (SQL)", ("_process_one (bot/messaging/gateway",)),
        Rule("queue checks (SQL)", ("_next_waiting (", "_has_pending (", "replies_to (")),
        Rule("sending replies (Twilio SDK)", ("send_replies_of (", "hand_over (", "twilio/")),
        Rule("SQL (other)", ("sqlalchemy/", "psycopg/")),
        Rule("Redis (other)", ("redis/",)),
    ],
    "replies": [],  # filled below: the reply worker runs the gateway's code too
    "rasa": [
        Rule("tracker store (Redis, JSON, replay)", ("tracker_store.py",)),
        Rule("lock store (Redis)", ("lock_store.py",)),
        Rule("checking the action's answer (jsonschema)", ("jsonschema/",)),
        Rule("NLU: DIET (TensorFlow)", ("diet_classifier", "tensorflow/", "rasa/utils/tensorflow")),
        Rule("NLU: featurizers, tokenizer", ("rasa/nlu/",)),
        Rule("policy prediction (RulePolicy)", ("rasa/core/policies/",)),
        Rule("action call (tracker + domain JSON, HTTP)", ("rasa/core/actions/action.py", "aiohttp/",
                                                           "rasa/utils/endpoints")),
        Rule("graph runner, tracker state", ("rasa/engine/", "rasa/shared/core/")),
        Rule("HTTP server (Sanic), REST channel", ("sanic/", "rasa/core/channels")),
        Rule("processor (rest)", ("rasa/core/processor", "rasa/core/agent")),
    ],
    "actions": [
        Rule("SQL inside actions", ("sqlalchemy/", "psycopg/")),
        Rule("action code (bot, actions)", ("(actions/", "(bot/")),
        Rule("request JSON in, events out (rasa-sdk)", ("rasa_sdk/", "json/")),
        Rule("HTTP server (Sanic)", ("sanic/",)),
    ],
}


RULES["replies"] = [Rule(IDLE, ("serve (api/replies",)), *RULES["app"]]  # BLPOP: waiting for a conversation


def breakdown(samples: dict[str, Counter[str]], cpu: dict[str, float], messages: int, rate: int) -> None:
    """Per process: CPU ms a message, then each stage's thread-ms a message (all threads summed)."""
    print(f"\nWhere a message's time goes ({messages} messages under load; py-spy at {rate} Hz, --idle)")
    print(f"  {'process':<10}{'CPU ms/msg':>11}")
    for name, seconds in cpu.items():
        print(f"  {name:<10}{seconds * 1000 / messages:>11.1f}")
    print(f"  {'total':<10}{sum(cpu.values()) * 1000 / messages:>11.1f}   "
          f"(2 cores: at most {2 * messages / max(sum(cpu.values()), 1e-9):.0f} msg/s if CPU-bound)")
    print(f"\n  {'stage':<46}{'process':<9}{'thread-ms/msg':>14}{'% busy':>8}")
    for name, stacks in samples.items():
        stages = classify(stacks, RULES[name])
        busy = sum(count for stage, count in stages.items() if stage != IDLE) or 1
        for stage, count in stages.most_common():
            share = "" if stage == IDLE else f"{100 * count / busy:7.0f}%"
            print(f"  {stage:<46}{name:<9}{count * 1000 / rate / messages:>14.1f}{share:>8}")


# --- one debtor at a time ------------------------------------------------------------------------------
def sequential_ms(send: Callable[[], None], times: int) -> float:
    durations = []
    for _ in range(times):
        began = time.perf_counter()
        send()
        durations.append((time.perf_counter() - began) * 1000)
    return statistics.median(durations)


def tracker_events(client: httpx.Client, rasa_url: str, sender: str) -> int:
    response = client.get(f"{rasa_url}/conversations/{sender}/tracker", params={"token": RASA_TOKEN})
    return len(response.json().get("events") or [])


def growth(load: Load, client: httpx.Client, rasa_url: str, short: int = 20, long: int = 21) -> None:
    """A message's time on a short and a long tracker; on a small and a large portfolio."""
    print("\nOne debtor at a time (median of 20 messages, whole path: webhook → Rasa → actions → reply)")
    for debtor, target in ((short, 10), (long, 200)):
        for turn, message in enumerate(conversation_of(debtor)[:2]):
            load.twiml(debtor, turn, message)  # verified
        sender = f"whatsapp:{phone_of(debtor)}"
        while tracker_events(client, rasa_url, sender) < target:
            load.twiml(debtor, 2, "cuanto debo?")
        events = tracker_events(client, rasa_url, sender)
        ms = sequential_ms(lambda number=debtor: load.twiml(number, 2, "cuanto debo?"), 20)  # type: ignore[misc]
        print(f"  tracker of {events:>4} events before (balance question)        {ms:7.0f} ms")


def portfolio(load: Load, url: str, small: int = 30, large_from: int = PORTFOLIO - 20) -> None:
    def conversation(debtor: int) -> Callable[[], None]:
        def run() -> None:
            for turn, message in enumerate(conversation_of(debtor)):
                load.twiml(debtor, turn, message)
        return run

    numbers = iter(range(small, small + 10))
    small_ms = sequential_ms(lambda: conversation(next(numbers))(), 10) / 4
    seed(url, SMALL_PORTFOLIO + 1, PORTFOLIO)
    numbers = iter(range(large_from, large_from + 10))
    large_ms = sequential_ms(lambda: conversation(next(numbers))(), 10) / 4
    print(f"  portfolio of {SMALL_PORTFOLIO:>7,} debtors (a message, in a whole conversation)    {small_ms:7.0f} ms")
    print(f"  portfolio of {PORTFOLIO:>7,} debtors (a message, in a whole conversation)    {large_ms:7.0f} ms")


def merged(label: str, rounds: list[Burst]) -> Burst:
    cpu: Counter[str] = Counter()
    for burst in rounds:
        cpu.update(burst.cpu)
    return Burst(label, sum(burst.seconds for burst in rounds), [ms for burst in rounds for ms in burst.latencies],
                 [ms for burst in rounds for ms in burst.acks], dict(cpu),
                 [ms for burst in rounds for ms in burst.first])


def cpu_line(burst: Burst) -> str:
    """CPU ms a message per process (those that worked), and how busy the machine's cores were; the fake Twilio's
    apart (its CPU competes for the same cores, but is not ours)."""
    messages = max(len(burst.latencies), 1)
    used = {name: seconds for name, seconds in burst.cpu.items()
            if seconds * 1000 / messages >= 0.05 and name != FAKE_TWILIO}
    parts = " + ".join(f"{name} {seconds * 1000 / messages:.1f}" for name, seconds in used.items())
    busy = (sum(used.values()) + burst.cpu.get(FAKE_TWILIO, 0.0)) / burst.seconds / (os.cpu_count() or 1)
    fake = f"; {FAKE_TWILIO} {burst.cpu[FAKE_TWILIO] * 1000 / messages:.1f}" if burst.cpu.get(FAKE_TWILIO) else ""
    return (f"    CPU a message: {parts} = {sum(used.values()) * 1000 / messages:.1f} ms{fake}"
            f" (cores {100 * busy:.0f}% busy)")


def bursts(load: Load, debtors: int, blocks: Iterator[int], rounds: int, roots: dict[str, Roots]) -> None:
    """Each route `rounds` times, taking turns (a slow minute of the machine does not fall on one route), fresh
    debtors every time; throughput is messages over the seconds the bursts took."""
    print(f"\nA burst: {debtors} debtors at once, 4 messages each, portfolio of {PORTFOLIO:,} debtors "
          f"({os.cpu_count()} cores; each route {rounds} times, taking turns; reply side at nice "
          f"{os.getpriority(os.PRIO_PROCESS, pids_of(roots['rasa'])[0])}; Rasa: "
          f"{len(pids_of(roots['rasa']))} replica(s))")
    load.acks_by_turn.clear()
    load.acks_in_app_by_turn.clear()
    routes = {"Rasa REST channel directly": load.rasa, "gateway, TwiML (whole path)": load.twiml,
              "gateway, REST mode: until replied": load.rest}
    runs: dict[str, list[Burst]] = {label: [] for label in routes}
    for _ in range(rounds):
        for label, send in routes.items():
            runs[label].append(drive(label, range(next(blocks), next(blocks)), send, roots))
    rasa, twiml, rest = (merged(label, runs[label]) for label in routes)
    for burst in (rasa, twiml, rest):
        print(burst.line())
        print(burst.first_and_later())
        print(cpu_line(burst))
    print(f"  {'gateway, REST mode: acknowledgement':<34} {len(rest.acks):>4} acks{'':>20}"
          f"  p50 {statistics.median(rest.acks):6.1f}  p95 {percentile(rest.acks, 0.95):6.1f}"
          f"  p99 {percentile(rest.acks, 0.99):6.1f} ms")
    print(f"  gateway / Rasa: throughput {twiml.rate / rasa.rate:.2f}x (goal >= 0.95), p95 "
          f"{percentile(twiml.latencies, 0.95) / percentile(rasa.latencies, 0.95):.2f}x (goal <= 1.2)")
    for turn, acks in sorted(load.acks_by_turn.items()):  # the first message of all 50 arrives at one instant
        inside = load.acks_in_app_by_turn[turn]
        print(f"    message {turn + 1} of 4: acknowledged p50 {statistics.median(acks):5.0f}  p99 "
              f"{percentile(acks, 0.99):5.0f} ms; in the app (Server-Timing) p50 {statistics.median(inside):5.0f}  "
              f"p99 {percentile(inside, 0.99):5.0f} ms")


def profile(label: str, send: Callable[[int, int, str], float | None], roots: dict[str, Roots], debtors: range,
            rate: int, folder: Path) -> None:
    """A burst again with py-spy on our Python processes and CPU meters on every process."""
    folder.mkdir(parents=True, exist_ok=True)
    samplers = [Sampler(name, pid, folder / f"{name}-{pid}.spy", rate=rate) for name, pids in roots.items()
                if name in RULES for pid in pids_of(pids)]
    meter = CpuMeter(roots)
    for sampler in samplers:
        sampler.start()
    time.sleep(2)  # py-spy attached
    meter.start()
    profiled = drive(label, debtors, send)
    cpu = meter.stop()
    samples: dict[str, Counter[str]] = {}
    for sampler in samplers:  # a server's replicas in one count
        samples[sampler.name] = samples.get(sampler.name, Counter()) + sampler.stop()
    print(profiled.line())
    breakdown(samples, cpu, len(profiled.latencies), rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="bursts per route")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--parts", default="growth,bursts,profile,profile-rest",
                        help="which parts to run (comma-separated): growth, bursts, profile, profile-rest")
    parser.add_argument("--profiles", type=Path, help="keep py-spy's raw stacks here (default: thrown away)")
    parser.add_argument("--rasa-replicas", type=int, default=2,
                        help="Rasa servers on the same stores, as RASA_URL lists them (compose: 2; one Rasa process "
                        "uses one core)")
    parser.add_argument("--reply-side-nice", type=int, default=REPLY_SIDE_NICE,
                        help="niceness of Rasa, the action server and the reply worker (0: all equal)")
    args = parser.parse_args()
    model = active_model()
    if model is None or model != model_path():
        raise SystemExit("no model for the current inputs: run `make model` first")
    postgres, redis = start_postgres(), start_redis()
    sent = SentReplies()
    apps: list[App] = []
    reply_worker: subprocess.Popen[bytes] | None = None
    with fake_twilio_apart(sent) as (fake_url, fake_pid), tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        url = fresh_database(postgres, "bench")
        seed(url, 1, SMALL_PORTFOLIO)
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis.url, "PUBLIC_BASE_URL": PUBLIC,
               "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_BASE": fake_url, "RASA_TOKEN": RASA_TOKEN,
               "RETRY_INTERVAL_SECONDS": "3600", "RASA_TIMEOUT_SECONDS": "30", "NLU_INBOX_REFRESH_MINUTES": "0",
               "MODEL_JOBS_IN_APP": "false"}
        running = servers.start(model, free_port(), free_port(), env=env, log_dir=logs, token=RASA_TOKEN,
                                redis_url=redis.url)
        try:
            rasa_urls = [running.rasa_url, *(running.add_rasa(model, free_port())
                                             for _ in range(args.rasa_replicas - 1))]
            env["RASA_URL"] = ",".join(rasa_urls)
            apps = [start_app(env, "twiml", logs / "app-twiml.log"), start_app(env, "rest", logs / "app-rest.log")]
            reply_worker = start_reply_worker(env, logs / "replies.log")
            for pid in (*(process.pid for process in running.processes), reply_worker.pid):  # every Rasa too
                set_niceness(pid, args.reply_side_nice)
            with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=2 * args.debtors)) as client:
                load = Load(rasa_urls, apps[0], apps[1], sent)
                # Warm-up, not counted: every route once, then a burst on each app (its threads and connections).
                load.learn_replies(19)  # a debtor nothing else uses (growth's short tracker is 20)
                for debtor in range(1, 6):
                    load.twiml(debtor, 0, "hola")
                    load.rasa(debtor + 5, 0, "hola")
                    load.rest(debtor + 10, 0, "hola")
                drive("warm-up", range(900, 950), load.rest)
                drive("warm-up", range(950, 1000), load.twiml)
                freeze_startup_objects()  # the client's own full collections would stall its timing threads
                blocks = iter(range(1_000, PORTFOLIO, args.debtors))  # fresh debtors for every burst
                parts = set(args.parts.split(","))
                if "growth" in parts:
                    growth(load, client, running.rasa_url)
                    portfolio(load, url)
                else:
                    seed(url, SMALL_PORTFOLIO + 1, PORTFOLIO)
                shared: dict[str, Roots] = {
                    "rasa": tuple(process.pid for process in running.processes[1:]),
                    "actions": running.processes[0].pid,
                    "postgres": int((postgres.data_dir / "postmaster.pid").read_text().split()[0]),
                    "redis": redis.process.pid}
                if "bursts" in parts:
                    bursts(load, args.debtors, blocks, args.rounds,
                           {"app (TwiML)": apps[0].process.pid, "app (REST)": apps[1].process.pid,
                            "replies": reply_worker.pid, FAKE_TWILIO: fake_pid, **shared})
                if "profile" in parts:
                    profile("gateway, TwiML, under py-spy", load.twiml, {"app": apps[0].process.pid, **shared},
                            range(next(blocks), next(blocks)), args.rate, (args.profiles or logs) / "twiml")
                if "profile-rest" in parts:
                    profile("gateway, REST mode, under py-spy", load.rest,
                            {"app": apps[1].process.pid, "replies": reply_worker.pid, **shared},
                            range(next(blocks), next(blocks)), args.rate, (args.profiles or logs) / "rest")
        finally:
            for app in apps:
                app.stop()
            if reply_worker is not None:
                reply_worker.terminate()
                reply_worker.wait(timeout=20)
            running.stop()
            redis.stop()
            postgres.stop()


if __name__ == "__main__":
    main()
