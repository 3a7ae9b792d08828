"""What the org domain tells others when its data changes, without knowing who listens.

Listeners are registered at start-up by `chengzhi.reactions`; org's API and pages call `areas_changed()` after
committing a change of units' areas (a new unit, a new polygon).
"""

from __future__ import annotations

from collections.abc import Callable

_area_listeners: list[Callable[[], None]] = []


def on_areas_changed(listener: Callable[[], None]) -> None:
    if listener not in _area_listeners:
        _area_listeners.append(listener)


def off_areas_changed(listener: Callable[[], None]) -> None:
    if listener in _area_listeners:
        _area_listeners.remove(listener)


def areas_changed() -> None:
    """Call after the transaction that changed areas has committed."""
    for listener in list(_area_listeners):
        listener()
