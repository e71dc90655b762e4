"""Windows Prefetch files (.pf): which program ran, how often, when, and what it touched.

plaso's ``windows:prefetch:execution`` with plaso's attribute names, read by
libscca (which also decompresses the MAM files of Windows 10 and 11), plus
``sandbox_paths``: the referenced files that name a .wsb, a .vhdx or the
Containers tree. ITOCHU reports that Prefetch may record the .wsb and the
VHDX files a sandbox loaded (docs/domain.md §2 [S]). Every .pf is parsed (they
are small); the sandbox binaries of docs/domain.md §3 that only the sandbox uses
(``data/sandbox_names.yaml``), and any program whose Prefetch names a .wsb or
the Containers tree, are tagged ``sandbox_execution_trace``; the Hyper-V and
container host binaries other VMs use too (vmwp.exe ...), otherwise,
``hyperv_host_trace``. A .vhdx alone is listed but does not tag: WSL and
every Hyper-V VM load one too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyscca
from dfdatetime import filetime as dfdatetime_filetime

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData
from sandtrace.core.sandbox_names import SPECIFIC, file_verdict, is_sandbox_specific_path, sandbox_paths, tags_for
from sandtrace.parsers.interface import BaseParser, Signature

DATA_TYPE = "windows:prefetch:execution"
VOLUME_DATA_TYPE = "windows:volume:creation"
MAX_SIZE = 16 * 1024 * 1024  # real .pf files are at most a few hundred KiB


def _filetime(value: int | None) -> dfdatetime_filetime.Filetime | None:
    return dfdatetime_filetime.Filetime(timestamp=value) if value else None


class PrefetchParser(BaseParser):
    NAME = "prefetch"
    DATA_FORMAT = "Windows Prefetch File (PF)"
    DATA_TYPES = (DATA_TYPE, VOLUME_DATA_TYPE)
    PATTERNS = ("\\Windows\\Prefetch\\*.pf",)
    SIGNATURES = (Signature(b"SCCA", offset=4), Signature(b"MAM\x04"))

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        size = target.open_file_entry().size or 0
        if size > MAX_SIZE:
            raise ValueError(f"too large for a Prefetch file ({size} bytes, limit {MAX_SIZE})")
        scca = pyscca.file()
        scca.open_file_object(target.open_file_object())
        try:
            yield from self._parse_scca(scca, target)
        finally:
            scca.close()

    def _parse_scca(self, scca, target: FileTarget) -> Iterator[EventData]:
        executable = scca.executable_filename or ""
        filenames = [name for name in scca.filenames if name]
        serials, device_paths, path_hints = [], [], []
        for volume in scca.volumes:
            device_path = volume.device_path or ""
            serials.append(volume.serial_number)
            device_paths.append(device_path)
            created = volume.get_creation_time_as_integer()
            if created:
                yield EventData(VOLUME_DATA_TYPE, {
                    "creation_time": _filetime(created),
                    "device_path": device_path,
                    "origin": target.location.rsplit("\\", 1)[-1],
                    "serial_number": volume.serial_number,
                })
            path_hints.extend(_path_hints(filenames, device_path, executable))

        mapped_files = []
        for metrics in scca.file_metrics_entries:
            name = metrics.filename
            if not name:
                continue
            reference = metrics.file_reference
            if reference:
                name = f"{name} [{reference & 0xFFFFFFFFFFFF}-{reference >> 48}]"
            mapped_files.append(name)

        version = scca.format_version
        run_times = [scca.get_last_run_time_as_integer(index) for index in range(8 if version >= 26 else 1)]
        previous = [_filetime(value) for value in run_times[1:] if value]
        found = sandbox_paths(filenames)
        values = {
            "executable": executable,
            "last_run_time": _filetime(run_times[0]),
            "mapped_files": mapped_files,
            "number_of_volumes": scca.number_of_volumes,
            "path_hints": path_hints,
            "prefetch_hash": scca.prefetch_hash,
            "previous_run_times": previous or None,
            "run_count": scca.run_count,
            "version": version,
            "volume_device_paths": device_paths,
            "volume_serial_numbers": serials,
            "sandbox_paths": found or None,
        }
        specific = any(is_sandbox_specific_path(path) for path in found)
        tags = tags_for(SPECIFIC if specific else file_verdict(executable))
        yield EventData(DATA_TYPE, {k: v for k, v in values.items() if v is not None}, tags=tags)


def _path_hints(filenames: list[str], device_path: str, executable: str) -> list[str]:
    """Full paths of the executable on this volume, as plaso finds them."""
    if not device_path:
        return []
    hints = []
    executable = executable.lower()
    for name in filenames:
        if not name.upper().startswith(device_path.upper()):
            continue
        path = name[len(device_path):]
        base = path.rpartition("\\")[2].lower()
        # The stored executable name is cut at 29 characters.
        if base == executable or (len(executable) == 29 and base.startswith(executable)):
            hints.append(path)
    return hints
