"""How sandtrace starts its worker processes: nothing imported from the current
folder, and no worker outliving its parent.

An examiner often runs sandtrace from inside the evidence (``cd /evidence &&
sandtrace batch .``), as root. ``python -m pkg`` and ``python -c`` (what
multiprocessing's spawn runs) put the current folder first on ``sys.path``,
so a ``sandtrace.py``, ``multiprocessing/`` or ``dfvfs.py`` planted in the
evidence would run in every worker. ``PYTHONSAFEPATH`` (Python 3.11+, the
environment form of ``-P``) keeps the current folder off the path; on older
Pythons the batch worker is started through ``runpy`` after dropping it.

A parent killed with SIGKILL cannot stop its workers: each asks the kernel
(``PR_SET_PDEATHSIG``) to kill it when its parent dies, and exits at once if
the parent is already gone by then.
"""

from __future__ import annotations

import ctypes
import os
import sys

_PR_SET_PDEATHSIG = 1
# On Pythons without -P: drop the current folder, then run the module.
_BOOTSTRAP = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
              "import runpy; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the current folder kept off ``sys.path``."""
    return dict(os.environ if base is None else base, PYTHONSAFEPATH="1")


def isolate_spawned_workers() -> None:
    """multiprocessing's spawn inherits this process's environment: set it here."""
    os.environ["PYTHONSAFEPATH"] = "1"


def module_command(module: str) -> list[str]:
    """The command line that runs ``python -m module`` without the current folder on the path."""
    if sys.version_info >= (3, 11):
        return [sys.executable, "-P", "-m", module]
    return [sys.executable, "-c", _BOOTSTRAP.format(module=module)]


def die_with_parent(parent: int | None, code: int = 1) -> None:
    """This process is killed when ``parent`` dies (Linux); exits now if it already has."""
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, 9)  # SIGKILL
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before we asked
        os._exit(code)
