"""Room for admin tuning (next): intents, examples, replies and policies edited with history, and the
model lifecycle. Empty today."""
