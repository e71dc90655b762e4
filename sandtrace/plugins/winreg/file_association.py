"""How .wsb files open, and the Store package that brings ``wsb.exe``.

File association keys (ITOCHU via SBS [S]; ProgID ``Windows.Sandbox`` and
``.wsb`` [C]), in HKLM and in a user's classes (UsrClass.dat): a changed
``shell\\open\\command`` is how a .wsb double-click could be hijacked, and
the keys show the feature's files were installed; they are context, not use.
The ``MicrosoftWindows.WindowsSandbox`` package [C] (docs/domain.md §3): its
registration keys (AppxAllUserStore, the AppModel repositories; layout [I])
give version and user; the key's last-written time approximates the install.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sandtrace.core.events import EventData
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.plugins.winreg import event

_CLASS_ROOTS = ("HKEY_LOCAL_MACHINE\\Software\\Classes", "HKEY_CURRENT_USER\\Software\\Classes")
PACKAGE = "MicrosoftWindows.WindowsSandbox"
_APPX = "HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Appx\\AppxAllUserStore"
_REPOSITORY = "Local Settings\\Software\\Microsoft\\Windows\\CurrentVersion\\AppModel"
# <name>_<version>_<architecture>_<resource id>_<publisher id>
_FULL_NAME = re.compile(r"^(?P<name>[^_]+)_(?P<version>[\d.]+)_(?P<arch>[^_]*)_(?P<resource>[^_]*)_(?P<publisher>[^_]+)$")


class FileAssociationPlugin(WinRegistryPlugin):
    NAME = "windows_sandbox_file_association"
    DATA_FORMAT = "Windows Sandbox .wsb file association"
    DATA_TYPES = ("windows:sandbox:file_association",)
    KEY_PATHS = tuple(
        f"{root}\\{name}" for root in _CLASS_ROOTS
        for name in (".wsb", "Windows.Sandbox", "Applications\\WindowsSandbox.exe")
    ) + ("HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows Sandbox\\Capabilities",)

    def parse_key(self, key, hive) -> Iterator[EventData]:
        name = key.name.lower()
        if name == "capabilities":
            associations = key.subkey("FileAssociations")
            mapping = associations.values() if associations else {}
            yield event(
                "windows:sandbox:file_association",
                association="capabilities", key_path=key.path, last_written_time=key.last_written_time,
                application_name=key.value("ApplicationName"),
                file_associations=[f"{ext}: {prog}" for ext, prog in mapping.items() if ext] or None,
                extension=next((ext for ext in mapping if ext.lower() == ".wsb"), None),
                prog_id=next((prog for ext, prog in mapping.items() if ext.lower() == ".wsb"), None),
            )
            return
        if name == ".wsb":
            open_with = key.subkey("OpenWithProgids")
            yield event(
                "windows:sandbox:file_association",
                association="extension", key_path=key.path, last_written_time=key.last_written_time,
                extension=".wsb", prog_id=key.value("") or None,
                open_with_prog_ids=[n for n in open_with.values() if n] or None if open_with else None,
            )
            return
        # The ProgID and the Applications entry: the open command is what matters.
        command_key = key.subkey("shell\\open\\command")
        shown = command_key or key
        yield event(
            "windows:sandbox:file_association",
            association="application" if name.endswith(".exe") else "prog_id",
            key_path=shown.path, last_written_time=shown.last_written_time,
            extension=".wsb", prog_id=key.name if not name.endswith(".exe") else None,
            application=key.name if name.endswith(".exe") else None,
            description=key.value("") or None,
            command=command_key.value("") if command_key else None,
        )


class AppxPackagePlugin(WinRegistryPlugin):
    NAME = "windows_sandbox_appx"
    DATA_FORMAT = "Windows Sandbox Store package (AppX) registration"
    DATA_TYPES = ("windows:sandbox:appx_package",)
    KEY_PATHS = (
        f"{_APPX}\\Applications\\{PACKAGE}_*",
        f"{_APPX}\\InboxApplications\\{PACKAGE}_*",
        f"{_APPX}\\S-1-*\\{PACKAGE}_*",
        f"HKEY_LOCAL_MACHINE\\Software\\Classes\\{_REPOSITORY}\\PackageRepository\\Packages\\{PACKAGE}_*",
        f"HKEY_CURRENT_USER\\Software\\Classes\\{_REPOSITORY}\\Repository\\Packages\\{PACKAGE}_*",
    )

    def parse_key(self, key, hive) -> Iterator[EventData]:
        parts = _FULL_NAME.match(key.name)
        parent = key.path.rsplit("\\", 2)[-2]
        manifest = key.value("Path") or key.value("PackageRootFolder")
        yield event(
            "windows:sandbox:appx_package",
            key_path=key.path, last_written_time=key.last_written_time,
            package_full_name=key.name,
            package_family_name=f"{parts['name']}_{parts['publisher']}" if parts else None,
            version=parts["version"] if parts else None,
            architecture=parts["arch"] if parts else None,
            user_sid=parent if parent.upper().startswith("S-1-") else None,
            registration=parent if not parent.upper().startswith("S-1-") else "AppxAllUserStore (per user)",
            manifest_path=manifest if isinstance(manifest, str) else None,
            display_name=key.value("DisplayName") or None,
        )
