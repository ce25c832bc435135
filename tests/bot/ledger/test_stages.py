from datetime import date
from decimal import Decimal

import pytest

from bot.ledger.models import Account
from bot.ledger.stages import Stage, stage_for_days_past_due


@pytest.mark.parametrize(("days", "stage"), [
    (-30, Stage.PREVENTIVE), (0, Stage.PREVENTIVE), (1, Stage.EARLY), (30, Stage.EARLY),
    (31, Stage.LATE), (90, Stage.LATE), (91, Stage.SEVERE), (2000, Stage.SEVERE),
])
def test_stage_boundaries(days: int, stage: Stage) -> None:
    assert stage_for_days_past_due(days) is stage


def test_account_stage_counts_days_from_due_date() -> None:
    account = Account(principal=Decimal("100"), interest=Decimal("5.50"), fees=Decimal("1.25"),
                      due_date=date(2026, 10, 1))
    assert account.days_past_due(date(2026, 10, 31)) == 30
    assert account.stage(date(2026, 10, 31)) is Stage.EARLY
    assert account.stage(date(2026, 11, 1)) is Stage.LATE
    assert account.stage(date(2026, 9, 1)) is Stage.PREVENTIVE
    assert account.total == Decimal("106.75")
