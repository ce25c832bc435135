"""The core of Acuerdo, in wings by domain; every wing says what it owns and what it may import.

common ← ledger ← messaging ← identity, negotiation, payments ← tools. A wing imports only wings to its
left (and its own modules); identity, negotiation and payments do not import each other. bot/ never
imports actions/, api/ or payments/ (the providers): they are adapters over it. tests/test_architecture.py
holds the code to this.
"""
