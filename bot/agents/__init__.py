"""The agent side: people (agents, supervisors, admins) scoped to creditors, their sign-in, the hand-off
queue, and what a person does with a conversation (claim, reply, note, offer, outcome, give it back).

Who may see and do what is decided in one place, `bot.agents.access`. May import bot.common, bot.ledger,
bot.messaging, bot.identity, bot.negotiation and bot.payments; nothing imports it but the HTTP edge and tools.
"""
