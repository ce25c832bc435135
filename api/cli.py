"""The `acuerdo` command: the core's operator commands (bot.tools.cli) with the task queue plugged in."""
from __future__ import annotations

import sys

from bot.tools.cli import main as core_main


def main(argv: list[str] | None = None) -> int:
    from api.tasks import run_campaign  # the queue and Twilio are edges: only `campaign run` needs them
    from payments import provider_from_settings

    return core_main(argv, campaign_runner=run_campaign, payment_provider=provider_from_settings)


if __name__ == "__main__":
    sys.exit(main())
