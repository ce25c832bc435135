"""Asking for money and recording it: payment links through a PaymentProvider (implemented in the
top-level payments/ package), provider events applied once, and the documents (receipts, agreements,
settlement letters). Imports bot.common, bot.ledger and bot.messaging."""
