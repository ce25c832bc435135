"""The record of debts: the database (engine, ORM models, migrations), portfolio import, balances and
collection stages. Imports only bot.common."""
