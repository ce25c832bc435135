"""`python -m rasa_server run …`: Rasa's own command line (the `rasa` command), with the one change this project
makes to the running server (action_results.py). Training and testing run the plain `rasa` command."""
from __future__ import annotations

import sys

from rasa.__main__ import main

from rasa_server.action_results import check_action_results_with_one_validator

if __name__ == "__main__":
    check_action_results_with_one_validator()
    sys.exit(main())
