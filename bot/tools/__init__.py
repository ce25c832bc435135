"""Operator tooling around the core: the `acuerdo` CLI, the Rasa model build (named by the hash of its
inputs) and the demo portfolio. May import every wing; no wing imports it."""
