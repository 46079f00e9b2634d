"""A namespace as the access store keeps it: its quota (offers.quota) and credit balance."""

from __future__ import annotations

from dataclasses import dataclass

from offers.quota import CreditUnit, Quota

__all__ = ["CreditUnit", "Namespace", "Quota"]


@dataclass(frozen=True)
class Namespace:
    name: str
    quota: Quota
    credits: float | None  # the balance; None: no budget
    created_at: float
