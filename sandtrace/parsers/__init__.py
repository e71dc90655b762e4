"""Format parsers; importing this package registers every one of them."""

from sandtrace.parsers import container_inventory, filestat, wsb  # noqa: F401
