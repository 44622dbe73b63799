"""Checkers for chapter 5 (Medical image datasets)."""

from __future__ import annotations

__all__: list[str] = []
