"""Conversations with debtors: the WhatsApp/SMS gateway (store first, in order, once), the outbox and the
one compliance check every outbound message passes, contact keys and opt-outs, the dialogue client (Rasa)
and conversation locks. Imports bot.common and bot.ledger."""
