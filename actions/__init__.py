"""rasa-sdk actions: thin adapters that read the tracker, call bot/, and return events and responses."""
from bot.common.settings import exit_if_unsafe, get_settings
from bot.ledger.changes import change_feed

exit_if_unsafe("the action server")  # rasa-sdk imports this package first: unsafe production settings stop it
change_feed.install(get_settings().redis_url)  # hand-offs stored here wake the consoles (with Redis)

# Every action module, then the start-up heap frozen (bot/common/heap.py): rasa-sdk would import them next anyway.
from actions import answers, conversation, dispatch, identity, plan, questions, session, slots  # noqa: E402,F401
from bot.common.heap import freeze_startup_objects  # noqa: E402

freeze_startup_objects()
