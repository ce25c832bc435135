"""What every wing needs and nothing domain-specific: the typed settings, the country and creditor
configuration, locale formatting (money and dates), phone numbers, and the message catalogue.
Imports nothing else from bot/."""
