"""Work modes: whether a call may pass through or must be translated (pure).

``auto`` passes through when the provider speaks the dialect the call needs
and translates otherwise; ``passthrough`` refuses what would need
translation; ``translation`` refuses what would pass through. The loopback
model speaks every dialect itself (it has no dialect list), so it is
*native* and no mode refuses it.

This is the one implementation of the rule: the model call asks it for
every target of a route (see ``call/targets.py``).
"""

from __future__ import annotations

from typing import Literal

from ..errors import PolicyRefusal

WorkMode = Literal["auto", "passthrough", "translation"]
WORK_MODES: tuple[WorkMode, ...] = ("auto", "passthrough", "translation")
Path = Literal["native", "passthrough", "translation"]
REFUSAL_CODE = "work_mode_forbids"


def decide_mode(
    work_mode: WorkMode, dialect: str, provider: str, provider_dialects: tuple[str, ...]
) -> Path:
    """How ``provider`` (speaking ``provider_dialects``; empty: every one,
    natively) may serve a call in ``dialect``; raises the mode's refusal."""
    if not provider_dialects:
        return "native"
    same = dialect in provider_dialects
    if work_mode == "passthrough" and not same:
        raise PolicyRefusal(
            "invalid_request",
            f"work_mode=passthrough does not support translation ({dialect} client, "
            f"provider {provider} speaks {', '.join(provider_dialects)})",
            code=REFUSAL_CODE,
        )
    if work_mode == "translation" and same:
        raise PolicyRefusal(
            "invalid_request",
            f"work_mode=translation does not support passthrough ({dialect} client "
            f"and provider {provider})",
            code=REFUSAL_CODE,
        )
    return "passthrough" if same else "translation"
