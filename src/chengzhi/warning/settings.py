"""The early-warning settings (`CHENGZHI_WARNING_*`) as the analysis's own types, checked."""

from __future__ import annotations

from chengzhi.config import Settings
from chengzhi.warning.hot import HEAT_TERMS, GroupingSettings, HeatWeights


class WarningSettingsError(ValueError):
    pass


def heat_weights(settings: Settings) -> HeatWeights:
    """The heat weights: the defaults, overridden by `CHENGZHI_WARNING_HEAT_WEIGHTS`. Unknown terms and negative
    weights are refused."""
    given = dict(settings.warning_heat_weights)
    unknown = sorted(set(given) - set(HEAT_TERMS))
    if unknown:
        raise WarningSettingsError(
            f"CHENGZHI_WARNING_HEAT_WEIGHTS: unknown terms {unknown}; known: {', '.join(HEAT_TERMS)}"
        )
    if any(value < 0 for value in given.values()):
        raise WarningSettingsError("CHENGZHI_WARNING_HEAT_WEIGHTS: weights cannot be negative")
    return HeatWeights(**{name: float(value) for name, value in given.items()})


def grouping_settings(settings: Settings) -> GroupingSettings:
    return GroupingSettings(
        max_distance=settings.warning_max_distance, min_people=settings.warning_min_people
    )
