"""Checkers for the exercises of chapters 8-9 (limits and the fastest path)."""
from __future__ import annotations

__all__: list[str] = []
