"""rasa-sdk actions: thin adapters that read the tracker, call bot/, and return events and responses."""
import importlib
import pkgutil

from bot.common.heap import freeze_startup_objects
from bot.common.settings import exit_if_unsafe, get_settings
from bot.ledger.changes import change_feed

exit_if_unsafe("the action server")  # rasa-sdk imports this package first: unsafe production settings stop it
change_feed.install(get_settings().redis_url)  # hand-offs stored here wake the consoles (with Redis)

# Every action module, then the start-up heap frozen (bot/common/heap.py): rasa-sdk would import them next anyway.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
freeze_startup_objects()
