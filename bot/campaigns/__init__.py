"""Room for outbound reminders and campaigns (next), sent through bot.messaging's compliance check.
Empty today."""
