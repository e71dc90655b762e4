"""Plugins of the ``winevtx`` parser: they read records the parser has decoded."""
