"""Reporting: the numbers creditors judge collections by (kpis), read from the ledger in SQL."""
