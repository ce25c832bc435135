"""`python -m rasa_server run …`: Rasa's own command line (the `rasa` command), with the changes this project
makes to the running server: action calls on connections kept open (action_calls.py), action answers checked by
validators built once (action_results.py), the heap frozen after each model load (heap.py). Training and testing
run the plain `rasa` command."""
from __future__ import annotations

import sys

from rasa.__main__ import main

from rasa_server.action_calls import keep_action_server_connections
from rasa_server.action_results import check_action_answers_by_event_name
from rasa_server.heap import freeze_after_model_loads

if __name__ == "__main__":
    keep_action_server_connections()
    check_action_answers_by_event_name()
    freeze_after_model_loads()
    sys.exit(main())
