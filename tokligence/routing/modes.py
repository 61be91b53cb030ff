"""Work modes: whether a request may pass through or must be translated.

``auto`` passes through when the client's dialect is the provider's own and
translates otherwise; ``passthrough`` refuses what would need translation;
``translation`` refuses what would pass through. The loopback model speaks
every dialect natively, so no mode refuses it.
"""

from __future__ import annotations

from typing import Literal

from ..errors import GatewayError

WorkMode = Literal["auto", "passthrough", "translation"]
Path = Literal["native", "passthrough", "translation"]


def decide_mode(work_mode: WorkMode, client_dialect: str, provider_dialect: str | None) -> Path:
    """``provider_dialect`` None means the provider speaks every dialect (loopback)."""
    if provider_dialect is None:
        return "native"
    same = client_dialect == provider_dialect
    if work_mode == "passthrough" and not same:
        raise GatewayError(
            "invalid_request",
            f"work_mode=passthrough does not support translation ({client_dialect} client, "
            f"{provider_dialect} provider)",
            code="work_mode_forbids",
        )
    if work_mode == "translation" and same:
        raise GatewayError(
            "invalid_request",
            f"work_mode=translation does not support passthrough "
            f"({client_dialect} client and provider)",
            code="work_mode_forbids",
        )
    return "passthrough" if same else "translation"
