"""Request references as people type them (DSR-XXXX-XXXX-XXXX, Crockford base 32)."""

from __future__ import annotations


def reference_normalise(value: str) -> str:
    """Upper-case, and the look-alikes a person may type read as Crockford does."""
    value = (value or "").strip().upper().translate(str.maketrans("ILO", "110"))
    return value
