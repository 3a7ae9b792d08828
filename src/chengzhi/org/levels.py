"""Identity levels: what each action needs (`Settings.identity_levels`), checked where the action happens.

Level 0: anonymous. Level 1: a phone number or e-mail address verified by a one-time code. Level 2: the real name
verified by an identity provider. A refusal names the level and the action, and the pages turn it into the
step-up path `/verify?level=N&next=...`, which leads the person through and back.
"""

from __future__ import annotations

from urllib.parse import urlencode

from chengzhi.config import Settings
from chengzhi.errors import Forbidden
from chengzhi.org.service import Actor

ACTIONS = (
    "submit",
    "support",
    "history",
    "follow",
    "comment",
    "vote",
    "apply_open_data",
    "object_credit_record",
)


class LevelRequired(Forbidden):
    code = "identity_level_required"


def level_needed(settings: Settings, action: str) -> int:
    return int(settings.identity_levels.get(action, 0))


def allowed(actor: Actor, settings: Settings, action: str) -> bool:
    return actor.level >= level_needed(settings, action)


def require_level(actor: Actor, settings: Settings, action: str) -> None:
    needed = level_needed(settings, action)
    if actor.level < needed:
        raise LevelRequired(level=needed, action=action)


def step_up_url(level: int, next_url: str) -> str:
    """Where a page sends a person whose level is too low: through verification and back to `next_url`."""
    return "/verify?" + urlencode({"level": level, "next": next_url})
