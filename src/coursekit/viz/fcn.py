"""Figures for chapter 2 (FCN)."""

from __future__ import annotations

__all__: list[str] = []
