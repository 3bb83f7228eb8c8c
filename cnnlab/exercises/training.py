"""Checkers for the exercises of chapters 10-11 (backpropagation and training)."""
from __future__ import annotations

__all__: list[str] = []
