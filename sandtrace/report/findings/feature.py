"""The feature's state and its changes, and the sandbox policy.

The state comes from the feature records (CBS package, optional features)
and from the Servicing and DISM/PowerShell events that turn it on or off;
the services the feature installs are listed as installation, not use. A
policy value set to allow what the defaults deny is also an anomaly.
"""

from __future__ import annotations

from typing import Any

from sandtrace.report.findings.evidence import evidence, iso, statement, what_of
from sandtrace.report.findings.kept import Kept
from sandtrace.report.model import Record

_FEATURE_LABELS = ("sandbox_feature_enabled", "sandbox_feature_disabled", "sandbox_feature_command")


def find(kept: Kept) -> dict[str, Any]:
    changes = []
    state = "unknown"
    for record in kept.by_type("windows:sandbox:feature"):
        state = _recorded_state(record, state)
        changes.append(_recorded_change(kept, record))
    for record in kept.by_type("windows:sandbox:package_folder"):
        if record.disk_key:
            continue
        installed = record.values.get("is_allocated", True)
        if installed and state == "unknown":
            state = "enabled"
        changes.append(_package_change(kept, record, installed))
    for record in kept.tagged(*_FEATURE_LABELS, host_only=True):
        if record.data_type != "windows:evtx:record":
            continue
        state = _event_state(record, state)
        changes.append(_event_change(kept, record))
    changes.sort(key=lambda s: s["time"] or "")
    services = [evidence(r, r.last_time, "Content Modification Time",
                         f"service {r.values.get('name')} ({r.values.get('image_path')})")
                for r in kept.by_type("windows:registry:service") if not r.disk_key]
    enabled_at = next((c["time"] for c in changes if c["state"] in ("turned on", "enabled", "installed")), None)
    return {"state": state, "enabled_at": enabled_at, "changes": changes,
            "related_services": services}


def _recorded_state(record: Record, state: str) -> str:
    v = record.values
    if v.get("feature_enabled") is True or v.get("state") in ("enabled", "installed"):
        return "enabled"
    if v.get("feature_enabled") is False and state == "unknown":
        return "disabled"
    return state


def _recorded_change(kept: Kept, record: Record) -> dict[str, Any]:
    """A feature record: the state it holds, at the time its key was last written."""
    v = record.values
    when = record.last_time
    kept.point(when, "feature", f"feature {v.get('state')}")
    return statement(
        f"{v.get('feature', 'Containers-DisposableClientVM')}: {v.get('state')} "
        f"({v.get('source', 'registry')}); key last written {iso(when)}",
        [evidence(record, when, next((d for t, d in record.times if t == when), ""))],
        time=iso(when), state=v.get("state"))


def _package_change(kept: Kept, record: Record, installed: bool) -> dict[str, Any]:
    """Windows 11 24H2 and later: the Store package's folder; its version is the feature's."""
    v = record.values
    when = record.time_of("Creation Time") or record.first_time
    kept.point(when, "feature", f"Store package {v.get('version')}")
    what = (f"Windows Sandbox Store package {v.get('version')} installed (Windows 11 24H2 and later: the feature is on)"
            if installed else f"Windows Sandbox Store package {v.get('version')} removed (its folder is deleted: an update "
            "or the feature turned off)")
    return statement(what, [evidence(record, when, "Creation Time")], time=iso(when),
                     state="installed" if installed else "removed")


def _event_state(record: Record, state: str) -> str:
    """Servicing 9 turns the feature on, 10 off; other feature events leave the state as it is."""
    event_id = record.values.get("event_identifier")
    if "sandbox_feature_enabled" in record.tags and event_id == 9:
        state = "enabled"
    if "sandbox_feature_disabled" in record.tags and event_id == 10:
        state = "disabled"
    return state


def _event_change(kept: Kept, record: Record) -> dict[str, Any]:
    v = record.values
    action = v.get("catalogue_action") or v.get("catalogue_message") or "changed"
    kept.point(record.first_time, "feature", what_of(record))
    return statement(what_of(record), [evidence(record)], time=iso(record.first_time), state=str(action))


def policy(kept: Kept) -> tuple[list[dict], list[dict]]:
    """(the host's policy keys, the anomalies they show: values explicitly set to allow)."""
    policies, anomalies = [], []
    for record in kept.by_type("windows:sandbox:policy"):
        if record.disk_key:
            continue
        settings = record.values.get("settings") or []
        loosened = [s["name"] for s in settings if s.get("configured") == 1]
        restricted = [s["name"] for s in settings if s.get("configured") == 0]
        item = evidence(record, record.last_time, "Content Modification Time")
        policies.append({"key": record.values.get("key_path"), "time": iso(record.last_time),
                         "effective": record.values.get("effective") or {},
                         "explicitly_allowed": loosened, "explicitly_denied": restricted,
                         "evidence": [item]})
        kept.point(record.last_time, "feature", "sandbox policy written")
        if loosened:
            anomalies.append(statement(
                f"Sandbox policy explicitly allows {', '.join(loosened)} (key last written {iso(record.last_time)})",
                [item], kind="policy_loosened", time=iso(record.last_time)))
            kept.point(record.last_time, "anomaly", "policy loosened")
    return policies, anomalies
