"""Collection stages by days past due (the convention every part shares)."""
from __future__ import annotations

import enum


class Stage(enum.StrEnum):
    PREVENTIVE = "preventive"  # not yet due (≤ 0 days past due)
    EARLY = "early"  # 1–30
    LATE = "late"  # 31–90
    SEVERE = "severe"  # ≥ 91


def stage_for_days_past_due(days_past_due: int) -> Stage:
    if days_past_due <= 0:
        return Stage.PREVENTIVE
    if days_past_due <= 30:
        return Stage.EARLY
    if days_past_due <= 90:
        return Stage.LATE
    return Stage.SEVERE
