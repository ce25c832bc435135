"""A Redis tracker store whose every turn costs one session, not the whole history (issue 23).

Rasa 3.6's `RedisTrackerStore` replays events far more often than a turn needs. `retrieve` replays every
session, then splits the tracker into one tracker per session (replaying each again) to return the last.
`save` reads the stored tracker back, replays it, replays the new one up to the stored one's last event to
compare them, and merges. Under a burst that was Rasa's third-largest cost, and it grows with every session a
debtor has had.

This store keeps Rasa's stored format (`{"name", "events"}` JSON under `<key_prefix><sender_id>`, so the stock
store reads what it writes and a rollback loses nothing) and works on the stored JSON before replaying anything:

- `retrieve` slices the events from the last `action_session_start` on and replays only those: the tracker
  Rasa's store returns, with one replay;
- `save` keeps the stored events before the saved tracker's first event (the earlier sessions) as JSON,
  appends the saved tracker's events and writes them back: no replay at all (a tracker whose events replace
  the stored ones, `PUT /conversations/<id>/tracker/events`, replaces them from its first event's time on,
  where Rasa's store would merge both);
- events older than `record_exp` are dropped on save, so an active conversation's tracker does not keep what
  a debtor wrote months ago (it expires `record_exp` after the last turn, as before).

Only one writer per conversation at a time: Rasa's lock store serialises a conversation's turns, which is
what makes the merge Rasa's store does unnecessary.
"""
from __future__ import annotations

import json
import time
from typing import Any

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.conversation import Dialogue
from rasa.shared.core.trackers import DialogueStateTracker

Event = dict[str, Any]


def last_session_start(events: list[Event]) -> int:
    """Where the last session begins: the index of the last `action_session_start`, or 0."""
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "action" and event.get("name") == ACTION_SESSION_START_NAME:
            return index
    return 0


def earlier_sessions(stored: list[Event], saved: list[Event]) -> list[Event]:
    """What the stored history holds before the tracker being saved begins: everything before its first event
    (a tracker from `retrieve`: the earlier sessions); when that event is not stored (a new tracker, replaced
    events), the stored events older than it."""
    if not saved:
        return stored
    for index in range(len(stored) - 1, -1, -1):
        if stored[index] == saved[0]:
            return stored[:index]
    first = saved[0].get("timestamp") or 0
    return [event for event in stored if (event.get("timestamp") or 0) < first]


class SessionRedisTrackerStore(RedisTrackerStore):
    """Rasa's Redis tracker store, replaying only the last session (see the module's docstring)."""

    def _stored_events(self, sender_id: str) -> list[Event] | None:
        stored = self.red.get(self.key_prefix + sender_id)
        if stored is None:
            return None
        return list(json.loads(stored).get("events") or [])

    def _tracker_of(self, sender_id: str, events: list[Event]) -> DialogueStateTracker:
        tracker = self.init_tracker(sender_id)
        tracker.recreate_from_dialogue(Dialogue.from_parameters({"name": sender_id, "events": events}))
        return tracker

    async def _retrieve(self, sender_id: str, fetch_all_sessions: bool) -> DialogueStateTracker | None:
        events = self._stored_events(sender_id)
        if events is None:
            return None
        if not fetch_all_sessions:
            events = events[last_session_start(events):]
        return self._tracker_of(sender_id, events)

    async def save(self, tracker: DialogueStateTracker, timeout: float | None = None) -> None:
        await self.stream_events(tracker)
        if not timeout and self.record_exp:
            timeout = self.record_exp
        new_events = [event.as_dict() for event in tracker.events]
        earlier = earlier_sessions(self._stored_events(tracker.sender_id) or [], new_events)
        if self.record_exp:
            oldest_kept = time.time() - self.record_exp
            earlier = [event for event in earlier if (event.get("timestamp") or 0) >= oldest_kept]
        self.red.set(self.key_prefix + tracker.sender_id,
                     json.dumps({"events": earlier + new_events, "name": tracker.sender_id}), ex=timeout)
