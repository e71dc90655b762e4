"""The services and drivers Windows Sandbox runs on, as plaso's ``windows:registry:service``.

Which ones, what each is and how sure that is are data: the ``service`` and
``driver`` names of ``data/sandbox_names.yaml``. The key's last-written time is
the one date; in the feature's services it is usually when the feature was
installed or the service last reconfigured.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandtrace.core import sandbox_names
from sandtrace.core.events import EventData
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.plugins.winreg import event

SERVICES = tuple(name.name for name in sandbox_names.select(kind=("service", "driver")))
_SERVICES_KEY = "HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Services"
_SHOWN_APART = ("ErrorControl", "ImagePath", "ObjectName", "Start", "Type")


class SandboxServicesPlugin(WinRegistryPlugin):
    NAME = "windows_services"
    DATA_FORMAT = "Windows Sandbox and Hyper-V container services"
    DATA_TYPES = ("windows:registry:service",)
    KEY_PATHS = tuple(f"{_SERVICES_KEY}\\{name}" for name in SERVICES)

    def parse_key(self, key, hive) -> Iterator[EventData]:
        parameters = key.subkey("Parameters")
        yield event(
            "windows:registry:service",
            error_control=key.value("ErrorControl"),
            image_path=key.value("ImagePath"),
            key_path=key.path,
            last_written_time=key.last_written_time,
            name=key.name,
            object_name=key.value("ObjectName"),
            service_dll=parameters.value("ServiceDll") if parameters else None,
            service_type=key.value("Type"),
            start_type=key.value("Start"),
            values=key.plaso_values(skip=_SHOWN_APART),
        )
