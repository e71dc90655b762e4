"""Format parsers; importing this package registers every one of them.

One import per line, so that adding a parser never rewrites another's line.
"""

from sandtrace.parsers import container_inventory  # noqa: F401
from sandtrace.parsers import filestat  # noqa: F401
from sandtrace.parsers import jumplist  # noqa: F401
from sandtrace.parsers import lnk  # noqa: F401
from sandtrace.parsers import prefetch  # noqa: F401
from sandtrace.parsers import psreadline  # noqa: F401
from sandtrace.parsers import task_xml  # noqa: F401
from sandtrace.parsers import usnjrnl  # noqa: F401
from sandtrace.parsers import wci_placeholder  # noqa: F401
from sandtrace.parsers import wdag_profile  # noqa: F401
from sandtrace.parsers import winevtx  # noqa: F401
from sandtrace.parsers import winreg  # noqa: F401
from sandtrace.parsers import wsb  # noqa: F401
