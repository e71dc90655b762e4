"""What names Windows Sandbox: its binaries, its configuration files, its storage.

Shared by the execution-trace parsers (Prefetch, LNK and jump lists,
scheduled-task XML), so that they agree on what counts as a sandbox trace.
Sources are in ``docs/domain.md`` §3 (binaries) and §2 (paths).
"""

from __future__ import annotations

import re

EXECUTION_TAG = "sandbox_execution_trace"

# docs/domain.md §3: WindowsSandbox*.exe [C], wsb.exe [C], vmwp.exe [C], vmcompute.exe [C],
# cmproxyd.exe [S], WindowsSandboxClient/Server/RemoteSession.exe [C], ManagedWindowsVM.exe [C].
SANDBOX_BINARIES = frozenset({
    "windowssandbox.exe",
    "windowssandboxclient.exe",
    "windowssandboxserver.exe",
    "windowssandboxremotesession.exe",
    "wsb.exe",
    "vmwp.exe",
    "vmcompute.exe",
    "cmproxyd.exe",
    "managedwindowsvm.exe",
})
_SANDBOX_BINARY_PREFIX = "windowssandbox"

# A .wsb, a .vhdx, or anything in the Containers tree (docs/domain.md §2).
_SANDBOX_PATH = re.compile(
    r"\.wsb\b|\.vhdx\b|\\programdata\\microsoft\\windows\\containers(\\|\b|$)",
    re.IGNORECASE,
)
_WSB = re.compile(r"\.wsb\b", re.IGNORECASE)
_CONTAINERS = re.compile(r"\\programdata\\microsoft\\windows\\containers(\\|$)", re.IGNORECASE)
# A sandbox binary named anywhere in a command line or path.
_BINARY_IN_TEXT = re.compile(
    r"(^|[\\/\s\"'=:])(windowssandbox[a-z]*\.exe|wsb\.exe|vmwp\.exe|vmcompute\.exe|cmproxyd\.exe|managedwindowsvm\.exe|wsb)(?=$|[\s\"'])",
    re.IGNORECASE,
)


def is_sandbox_binary(name: str | None) -> bool:
    """Whether a file name (or the last part of a path) is a sandbox binary."""
    if not name:
        return False
    base = re.split(r"[\\/]", name.strip().strip('"'))[-1].lower()
    # Prefetch keeps at most 29 characters of the name: "WINDOWSSANDBOXREMOTESESSION.E".
    return base in SANDBOX_BINARIES or base.startswith(_SANDBOX_BINARY_PREFIX)


def sandbox_paths(paths) -> list[str]:
    """The paths that name a .wsb, a .vhdx or the Containers tree, in order, once each."""
    found: list[str] = []
    for path in paths or ():
        if path and _SANDBOX_PATH.search(path) and path not in found:
            found.append(path)
    return found


def is_sandbox_specific_path(path: str | None) -> bool:
    """A .wsb or the Containers tree; a bare .vhdx may be any VM's (WSL, Hyper-V)."""
    return bool(path and (_WSB.search(path) or _CONTAINERS.search(path)))


def names_wsb(text: str | None) -> bool:
    return bool(text and _WSB.search(text))


def names_sandbox_binary(text: str | None) -> bool:
    """Whether a path or command line names a sandbox binary anywhere in it."""
    return bool(text and _BINARY_IN_TEXT.search(text))
