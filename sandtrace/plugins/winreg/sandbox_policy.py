"""Group Policy for Windows Sandbox: what the administrator allowed or forbade.

Source [C]: Policy CSP WindowsSandbox (learn.microsoft.com, ms.date
2024-09-27) and WindowsSandbox.admx; all values are DWORD 0/1 and take
effect at the next sandbox start. A missing value means "not configured",
which falls back to the documented default below (docs/domain.md §4). One event
data per policy key: the values as found, and every setting's effective state.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandtrace.core.events import EventData
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.plugins.winreg import event

POLICY_KEY = "HKEY_LOCAL_MACHINE\\Software\\Policies\\Microsoft\\Windows\\Sandbox"

# setting: (value names read, default when not configured, applies to, meaning, note)
SETTINGS = {
    "AllowAudioInput": (("AllowAudioInput",), True, "21H2+", "the sandbox may use the host's microphone", None),
    "AllowClipboardRedirection": (("AllowClipboardRedirection",), True, "21H2+", "the clipboard is shared with the host", None),
    "AllowNetworking": (("AllowNetworking",), True, "21H2+", "the sandbox gets a network adapter", None),
    "AllowPrinterRedirection": (
        ("AllowPrinterRedirection",), False, "21H2+", "host printers are shared into the sandbox",
        "Microsoft's CSP lists default value 1 while its text says disabled when not configured",
    ),
    "AllowVGPU": (("AllowVGPU",), True, "21H2+", "the sandbox uses the host GPU (virtualized GPU)", None),
    "AllowVideoInput": (
        ("AllowVideoInput",), False, "21H2+", "the sandbox may use the host's camera",
        "Microsoft's CSP lists default value 1 while its text says disabled when not configured",
    ),
    "AllowMappedFolders": (("AllowMappedFolders",), True, "24H2 (10.0.26100)+", "host folders may be mapped into the sandbox", None),
    "AllowWriteToMappedFolders": (
        ("AllowWriteToMappedFolders",), True, "24H2+",
        "mapped host folders may be written from the sandbox (needs AllowMappedFolders = 1)",
        "Microsoft's GP mapping table names the value AllowMappedFolders for this setting; both are read",
    ),
}


class SandboxPolicyPlugin(WinRegistryPlugin):
    NAME = "windows_sandbox_policy"
    DATA_FORMAT = "Windows Sandbox Group Policy (Policy CSP WindowsSandbox)"
    DATA_TYPES = ("windows:sandbox:policy",)
    KEY_PATHS = (POLICY_KEY,)

    def parse_key(self, key, hive) -> Iterator[EventData]:
        found = {name: data for name, data in key.values().items() if name}
        by_name = {name.lower(): data for name, data in found.items()}
        settings, effective = [], {}
        for setting, (names, default, applies_to, meaning, note) in SETTINGS.items():
            configured = next((by_name[n.lower()] for n in names if isinstance(by_name.get(n.lower()), int)), None)
            on = default if configured is None else bool(configured)
            effective[setting] = on
            settings.append({
                "name": setting, "configured": configured, "effective": on, "default": default,
                "applies_to": applies_to, "meaning": meaning, "note": note,
            })
        if not effective["AllowMappedFolders"]:
            effective["AllowWriteToMappedFolders"] = False  # depends on AllowMappedFolders = 1
            settings[-1]["effective"] = False
        if by_name.get("allowwritetomappedfolders") is None and "allowmappedfolders" in by_name:
            settings[-1]["note"] += "; only AllowMappedFolders is present, which Microsoft's mapping may mean for it"
        unknown = sorted(name for name in found if name not in SETTINGS)
        summary = ", ".join(
            f"{setting} {'on' if on else 'off'}{'' if _configured(settings, setting) else ' (default)'}"
            for setting, on in effective.items()
        )
        yield event(
            "windows:sandbox:policy",
            key_path=key.path,
            last_written_time=key.last_written_time,
            values=found or None,
            settings=settings,
            effective=effective,
            unknown_values=unknown or None,
            summary=summary,
        )


def _configured(settings: list[dict], name: str) -> bool:
    return next(item["configured"] is not None for item in settings if item["name"] == name)
