"""KPI query time on a large ledger: `make bench` (or `python -m benchmarks.kpis`).

A fresh PostgreSQL database gets 100,000 accounts of 100,000 debtors (three creditors, five countries), one
WhatsApp conversation each with 10 messages (1,000,000 messages over the last 30 days, inbound ones read by
the model, one in six a fallback), 20,000 payments, 10,000 promises, 5,000 plans, 5,000 hand-offs, 30,000
verifications and 1,000 opt-outs, all written in SQL (generate_series). Then `GET /api/kpis`'s computation
(bot.reporting.kpis.compute) runs for the last 30 days: for everything, for one creditor, and for one country
and stage; and the results export (bot.reporting.results) for one creditor. Each is timed over a few runs.

    python -m benchmarks.kpis [--accounts 100000] [--messages-per-conversation 10] [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from benchmarks.campaigns import fresh_database
from bot.ledger.db import session_scope
from bot.ledger.stages import Stage
from bot.reporting.kpis import Filters, compute
from bot.reporting.results import results_csv
from scripts.services import start_postgres

SEED = [
    """INSERT INTO creditors (code, name, created_at) VALUES ('banco-aurora', 'Banco Aurora', now()),
       ('finanzas-norte', 'Finanzas del Norte', now()), ('telco-andina', 'Telco Andina', now())""",
    """INSERT INTO debtors (external_id, full_name, document_id, country, is_demo, extra, created_at, updated_at)
       SELECT 'D' || g, 'Deudor ' || g, lpad(g::text, 8, '0'), (ARRAY['MX','CO','CL','PE','AR'])[1 + g % 5], false,
              '{}', now(), now() FROM generate_series(1, :n) g""",
    """INSERT INTO phones (debtor_id, e164, verified, wrong_number, created_at)
       SELECT g, '+5255' || lpad(g::text, 8, '0'), false, false, now() FROM generate_series(1, :n) g""",
    """INSERT INTO accounts (external_id, creditor_id, debtor_id, product, currency, principal, interest, fees,
                             due_date, status, created_at, updated_at)
       SELECT 'A' || g, 1 + g % 3, g, 'Préstamo', (ARRAY['MXN','COP','CLP','PEN','ARS'])[1 + g % 5],
              1000 + g % 5000, g % 300, 0, current_date - (g % 200), 'active', now() - interval '90 days', now()
       FROM generate_series(1, :n) g""",
    """INSERT INTO conversations (channel, sender_id, debtor_id, mode, reset_dialogue, created_at, updated_at)
       SELECT 'whatsapp', 'whatsapp:+5255' || lpad(g::text, 8, '0'), g, 'bot', false, now(), now()
       FROM generate_series(1, :n) g""",
    """INSERT INTO messages (conversation_id, direction, channel, body, status, media, intent, created_at,
                             updated_at)
       SELECT 1 + (g % :n), CASE WHEN g % 2 = 0 THEN 'outbound' ELSE 'inbound' END, 'whatsapp', 'hola',
              CASE WHEN g % 2 = 0 THEN 'sent' ELSE 'processed' END, '{}',
              CASE WHEN g % 2 = 1 THEN (CASE WHEN g % 12 = 1 THEN 'nlu_fallback' ELSE 'ask_balance' END) END,
              now() - (g % 30) * interval '1 day' - (g % 86400) * interval '1 second', now()
       FROM generate_series(1, :messages) g""",
    """INSERT INTO payments (account_id, amount, currency, provider, provider_ref, paid_at, created_at)
       SELECT 1 + (g * 5) % :n, 100 + g % 900, 'MXN', (ARRAY['stripe','external_cash','external_transfer'])[1 + g % 3],
              'bench-' || g, now() - (g % 30) * interval '1 day', now() FROM generate_series(1, :n / 5) g""",
    """INSERT INTO promises_to_pay (account_id, promised_date, currency, status, created_by, created_at)
       SELECT 1 + (g * 7) % :n, current_date + 3, 'MXN', (ARRAY['pending','kept','broken'])[1 + g % 3], 'bot',
              now() - (g % 30) * interval '1 day' FROM generate_series(1, :n / 10) g""",
    """INSERT INTO payment_plans (account_id, total, down_payment, frequency, currency, status, created_by,
                                  created_at)
       SELECT 1 + (g * 11) % :n, 1200, 0, 'monthly', 'MXN', (ARRAY['pending','kept','broken'])[1 + g % 3], 'bot',
              now() - (g % 30) * interval '1 day' FROM generate_series(1, :n / 20) g""",
    """INSERT INTO handoffs (conversation_id, reason, requested_at, claimed_at, ended_at)
       SELECT 1 + (g * 13) % :n, (ARRAY['debtor_request','bot_error','dispute'])[1 + g % 3],
              now() - (g % 30) * interval '1 day', now() - (g % 30) * interval '1 day' + interval '5 minutes',
              now() - (g % 30) * interval '1 day' + interval '25 minutes' FROM generate_series(1, :n / 20) g""",
    """INSERT INTO audit_log (at, actor, action, entity_type, entity_id, details)
       SELECT now() - (g % 30) * interval '1 day', 'bot', 'identity_verified', 'debtor', (1 + (g * 3) % :n)::text,
              '{}' FROM generate_series(1, :n * 3 / 10) g""",
    """INSERT INTO opt_outs (e164, channel, source, created_at)
       SELECT '+5255' || lpad((1 + g * 97 % :n)::text, 8, '0'), 'whatsapp', 'keyword', now()
       FROM generate_series(1, :n / 100) g ON CONFLICT DO NOTHING""",
    "ANALYZE",
]


def timed(runs: int, action) -> float:  # type: ignore[no-untyped-def]
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--messages-per-conversation", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = start_postgres()
    try:
        url = fresh_database(server, "bench_kpis")
        engine = create_engine(url)
        started = time.perf_counter()
        with engine.begin() as connection:
            for statement in SEED:
                connection.execute(text(statement), {"n": args.accounts,
                                                     "messages": args.accounts * args.messages_per_conversation})
        engine.dispose()
        print(f"seeded {args.accounts:,} accounts and {args.accounts * args.messages_per_conversation:,} messages "
              f"in {time.perf_counter() - started:.1f} s")
        today = datetime.now(UTC).date()
        month = Filters(today - timedelta(days=29), today)
        with session_scope(url) as session:
            creditor = int(session.execute(text("SELECT id FROM creditors WHERE code = 'banco-aurora'")).scalar_one())
            cases = {
                "KPIs, every creditor, 30 days": lambda: compute(session, month),
                "KPIs, one creditor": lambda: compute(session, Filters(month.start, month.end, frozenset({creditor}))),
                "KPIs, one country and stage": lambda: compute(session, Filters(month.start, month.end, country="MX",
                                                                               stage=Stage.LATE)),
                "results CSV, one creditor": lambda: sum(len(chunk) for chunk in results_csv(
                    session, creditor, month.start, month.end)),
            }
            print(f"{'query':<34}{'median s':>10}  (of {args.runs} runs)")
            for name, action in cases.items():
                print(f"{name:<34}{timed(args.runs, action):>10.2f}")
            kpis = compute(session, month)
            print(f"sanity: {kpis.accounts['assigned']:,} accounts, {kpis.contact['debtors_contacted']:,} contacted, "
                  f"fallback rate {kpis.bot['nlu_fallback_rate']}, handoff rate {kpis.handoffs['handoff_rate']}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
