"""Docker's errors as berth's reasons say them."""

from __future__ import annotations


def docker_text(exc: Exception) -> str:
    """Docker's explanation of an error (the engine's message when it gave one), on one
    line."""
    explanation = getattr(exc, "explanation", None)
    text = explanation.decode() if isinstance(explanation, bytes) else explanation
    return " ".join(str(text or exc).split())
