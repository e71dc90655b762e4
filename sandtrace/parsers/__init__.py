"""Format parsers; importing this package registers every one of them."""

from sandtrace.parsers import filestat, wsb  # noqa: F401
