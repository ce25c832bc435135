"""Agreeing on how a debt gets paid: the policy engine (every limit enforced in one place), Spanish amount
and date parsing, promises, settlement offers and payment plans. Imports bot.common and bot.ledger."""
