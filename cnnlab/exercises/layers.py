"""Checkers for the exercises of chapters 6-7 (layers and the whole network)."""
from __future__ import annotations

__all__: list[str] = []
