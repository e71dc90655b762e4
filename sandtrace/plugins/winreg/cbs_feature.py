"""Whether the Windows Sandbox feature (Containers-DisposableClientVM) is on, and since when.

Component Based Servicing keeps one key per package, with its state and the
FILETIME of its installation split in two DWORDs; enabling the optional
feature also records a ``Selection`` under ``Notifications\\OptionalFeatures``.
Sources: TRR (tired-labs/techniques PR #15) for the package key [S]; the
OptionalFeatures key by analogy with other features [I] (docs/domain.md §4).
"""

from __future__ import annotations

from collections.abc import Iterator

from sandtrace.core.events import EventData
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.parsers.winreg_hive import filetime
from sandtrace.plugins.winreg import event

FEATURE = "Containers-DisposableClientVM"
CBS = "HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing"
PACKAGES = f"{CBS}\\Packages\\*Containers-DisposableClientVM*"
OPTIONAL_FEATURE = f"{CBS}\\Notifications\\OptionalFeatures\\{FEATURE}"

# CBS package CurrentState values [I]: community documentation of the servicing
# stack (the values DISM and the CBS logs show); not a Microsoft reference.
CBS_STATES = {
    0x00: "absent", 0x05: "uninstall_pending", 0x10: "resolving", 0x20: "resolved",
    0x30: "staging", 0x40: "staged", 0x50: "superseded", 0x60: "install_pending",
    0x65: "partially_installed", 0x70: "installed", 0x80: "permanent",
}
_ENABLED_STATES = {0x70, 0x80}
_PENDING_STATES = {0x05, 0x60, 0x65}


class FeatureStatePlugin(WinRegistryPlugin):
    NAME = "windows_sandbox_feature"
    DATA_FORMAT = "Windows Sandbox optional feature state (Component Based Servicing)"
    DATA_TYPES = ("windows:sandbox:feature",)
    KEY_PATHS = (PACKAGES, OPTIONAL_FEATURE)

    def parse_key(self, key, hive) -> Iterator[EventData]:
        if key.path.lower().endswith(FEATURE.lower()) and "\\notifications\\" in key.path.lower():
            selection = key.value("Selection")
            yield event(
                "windows:sandbox:feature",
                feature=FEATURE, source="optional_features", key_path=key.path,
                selection=selection,
                state={1: "enabled", 0: "disabled"}.get(selection, "unknown"),
                feature_enabled={1: True, 0: False}.get(selection),
                last_written_time=key.last_written_time,
            )
            return
        state = key.value("CurrentState")
        high, low = key.value("InstallTimeHigh"), key.value("InstallTimeLow")
        install_time = filetime((high << 32) | low) if isinstance(high, int) and isinstance(low, int) else None
        yield event(
            "windows:sandbox:feature",
            feature=FEATURE, package=key.name, source="cbs_package", key_path=key.path,
            current_state=state,
            state=CBS_STATES.get(state, "unknown") if isinstance(state, int) else None,
            feature_enabled=(state in _ENABLED_STATES) if isinstance(state, int) and state not in _PENDING_STATES else None,
            install_client=_text(key.value("InstallClient")),
            install_user=_text(key.value("InstallUser")),
            install_location=_text(key.value("InstallLocation")),
            install_time=install_time,
            last_written_time=key.last_written_time,
        )


def _text(value):
    return value if isinstance(value, str) and value else None
