"""rasa-sdk actions: thin adapters that read the tracker, call bot/, and return events and responses."""
from bot.common.settings import exit_if_unsafe

exit_if_unsafe("the action server")  # rasa-sdk imports this package first: unsafe production settings stop it
