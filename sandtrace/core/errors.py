"""Errors every layer may raise, at the bottom so that nothing imports upward for them."""

from __future__ import annotations


class SourceError(Exception):
    """The source cannot be used at all; the message is one plain line."""
