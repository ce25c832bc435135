"""Proving who is writing before anything about a debt is said: verification, locks that escalate to a
person, wrong-number reports. Imports bot.common, bot.ledger and bot.messaging."""
