"""The MirrorFace sequence as one finding: each step with its evidence, or the gap where a step has no trace.

The NPA/NISC advisory on MirrorFace (January 2025) describes one path: the
Windows Sandbox feature turned on, a ``.wsb`` planted that maps a writable
host folder and runs a logon command, the host rebooted (the feature needs
it), the sandbox started without a user (a task at boot or logon) with that
configuration, and the guest talking to the network. A case matches when the
first four steps are found and the start follows the plant and the reboot
(the reboot is looked for after the feature was turned on; plant and reboot
may come in either order); the fifth is often traceless on the host (the
guest's traffic leaves through the host's NAT).
"""

from __future__ import annotations

from typing import Any

from sandtrace.report.findings.evidence import evidence, from_iso, iso, statement
from sandtrace.report.findings.kept import Kept

_RISKS = {"writable_mapped_folder", "logon_command"}
_UNATTENDED = {"scheduled task", "at boot", "at logon", "run key", "startup folder"}
_NETWORK_LABELS = ("hyperv_network_adapter",)


def find(kept: Kept, found: dict[str, Any]) -> dict[str, Any]:
    """The steps in order, each found (time, text, evidence) or a named gap; matched when steps 1-4 hold in order."""
    enabled = _feature(found["feature"])
    planted = _planted(kept, found["configurations"], found["sessions"])
    reboot = _reboot(kept, from_iso(enabled["time"]) if enabled else 0)
    started = _started(found["sessions"], planted)
    network = _network(kept, started, planted)
    steps = [
        _step("feature enabled", enabled, "no trace of the feature being turned on (it may predate the evidence)"),
        _step(".wsb planted", planted, "no configuration that maps a writable host folder and runs a logon command"),
        _step("host rebooted", reboot, "no boot after the feature was turned on"),
        _step("sandbox started unattended with that configuration", started,
              "no session started by a task, at boot or at logon with the planted configuration"),
        _step("guest network activity", network, "networking is on in the configuration, but no trace of guest traffic "
              "on the host (its packets leave through the host's NAT)" if planted and planted["networking"]
              else "no trace of guest network activity"),
    ]
    # The order that matters: the reboot after the feature (found so), the start after both the plant and the reboot.
    matched = all(s["found"] for s in steps[:4]) and max(from_iso(steps[1]["time"]), from_iso(steps[2]["time"])) <= from_iso(steps[3]["time"])
    return {"matched": matched, "steps": steps, "summary": _summary(matched, steps)}


def _step(name: str, found: dict[str, Any] | None, gap: str) -> dict[str, Any]:
    if not found:
        return {"step": name, "found": False, "time": None, "text": gap, "confidence": None, "evidence": []}
    return {"step": name, "found": True, **found}


def _summary(matched: bool, steps: list[dict[str, Any]]) -> str:
    held = sum(1 for s in steps if s["found"])
    gaps = ", ".join(s["step"] for s in steps if not s["found"])
    gaps = f"; no trace of: {gaps}" if gaps else ""
    if matched:
        return f"The MirrorFace sequence is in the evidence ({held} of {len(steps)} steps found, in order{gaps})."
    return f"{held} of {len(steps)} steps of the MirrorFace sequence found" + (gaps or "; the sandbox started before the plant or the reboot")


def _feature(feature: dict[str, Any]) -> dict[str, Any] | None:
    change = next((c for c in feature["changes"] if c.get("state") in ("turned on", "turn-on pending a reboot",
                                                                        "initiating turn-on", "installed")), None)
    if change is None:
        return None
    return {"time": change["time"], **statement(change["text"], change["evidence"][:3])}


def _planted(kept: Kept, configurations: list[dict], sessions: list[dict]) -> dict[str, Any] | None:
    """The risky .wsb file a session used, else the first risky one; planted when its
    $FILE_NAME says, if its $STANDARD_INFORMATION creation is earlier (times changed)."""
    risky = [c for c in configurations if c["kind"] == "file" and _RISKS <= {f["flag"] for f in c["risk_flags"]}]
    used = {ref for s in sessions for ref in s["configurations"]}
    chosen = next((c for c in risky if c["id"] in used), risky[0] if risky else None)
    if chosen is None:
        return None
    settings = chosen["settings"]
    text = f"{chosen['path']} maps a writable host folder and runs {settings.get('logon_command')!s}"
    items, planted = chosen["evidence"][:3], chosen["created"]
    file_name = next((r for r in kept.by_type("fs:stat:ntfs") if r.display_name == chosen["display_name"]
                      and r.values.get("attribute_type") == 0x30), None)
    if file_name is not None and from_iso(planted) < (file_name.time_of("Creation Time") or 0):
        planted = iso(file_name.time_of("Creation Time"))
        text += (f"; created {planted} by its $FILE_NAME, {chosen['created']} by its $STANDARD_INFORMATION "
                 "(a creation time set back: timestomping)")
        items = [evidence(file_name, file_name.time_of("Creation Time"), "Creation Time",
                          "$FILE_NAME creation: when the file was made (a program can set $STANDARD_INFORMATION back, "
                          "not this)")] + items
    return {"time": planted, "id": chosen["id"], "networking": bool(settings.get("networking_enabled")),
            **statement(text, items)}


def _reboot(kept: Kept, after: int) -> dict[str, Any] | None:
    boots = [r for r in kept.tagged("system_boot", host_only=True) if r.first_time > after] if after else []
    if not boots:
        return None
    first = boots[0]
    item = evidence(first)
    return {"time": item["time"], **statement(f"host started at {item['time']} ({item['what']})", [item])}


def _started(sessions: list[dict], planted: dict[str, Any] | None) -> dict[str, Any] | None:
    if planted is None:
        return None
    for session in sessions:
        unattended = [m for m in session["launch_methods"] if m.lower() in _UNATTENDED]
        if unattended and planted["id"] in session["configurations"]:
            items = [e for launch in session["launch"] for e in launch["evidence"]][:4]
            text = f"session {session['number']} started by {', '.join(unattended)} with {planted['id'].split(':', 1)[-1]}"
            return {"time": session["start"], "session": session["number"], **statement(text, items)}
    return None


def _network(kept: Kept, started: dict[str, Any] | None, planted: dict[str, Any] | None) -> dict[str, Any] | None:
    if not started or not planted or not planted["networking"]:
        return None
    begin = from_iso(started["time"])
    adapters = [r for r in kept.tagged(*_NETWORK_LABELS) if r.first_time >= begin]
    if not adapters:
        return None
    item = evidence(adapters[0])
    return {"time": item["time"], **statement(f"a virtual network adapter connected at {item['time']}", [item])}
