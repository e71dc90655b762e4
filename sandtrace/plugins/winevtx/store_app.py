"""The event catalogue of Windows Sandbox as a Store-serviced app (Windows 11 24H2+).

Its entries are data (``sandtrace/data/evtx_catalogue/store_app.yaml``): the
server and window processes whose presence says whether a session ran
headless, the host files the Hyper-V worker wrote into mapped folders, the
Host Compute Service's channel. It runs after the sandbox catalogue
(``catalogue.py``), so a process record that catalogue already explained keeps
its sentence and gains these tags.
"""

from __future__ import annotations

from sandtrace.plugins.winevtx.interface import CataloguePlugin


class StoreAppCataloguePlugin(CataloguePlugin):
    """Tags the Store app's session processes and the worker's mapped-folder writes."""

    NAME = "store_app_catalogue"
    DATA_FORMAT = "Windows Sandbox Store-app event catalogue (data/evtx_catalogue/store_app.yaml)"
    CATALOGUE = "evtx_catalogue/store_app.yaml"


def _mapped_folder_write(plugin, values, extra, tags):
    """The written file and its folder: the host side of a mapped folder."""
    written = (values.get("event_data") or {}).get("TargetFilename")
    if not isinstance(written, str) or not written:
        return False
    extra["written_file"] = written
    folder = written.replace("/", "\\").rsplit("\\", 1)[0]
    extra["written_folder"] = folder if folder != written else None
    return True


StoreAppCataloguePlugin.HANDLERS = {"mapped_folder_write": _mapped_folder_write}
