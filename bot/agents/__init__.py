"""Room for the agent side (next): users and roles, the hand-off queue, claiming, replying and giving a
conversation back to the bot. Will import bot.common, bot.ledger, bot.messaging, bot.negotiation and
bot.payments. Empty today."""
