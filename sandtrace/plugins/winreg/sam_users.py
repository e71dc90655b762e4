"""Local accounts from the SAM, as plaso's ``windows:registry:sam_users``.

The F value (80 bytes) holds times, RID, account control flags and counts;
the V value an offset table whose entries 1, 2, 3 are the user name, full
name and comment (libyal winreg-kb "Security Accounts Manager keys"; plaso
``sam_users.yaml``). ``last_written_time`` is that of ``Users\\Names\\<name>``,
as in plaso.

WDAGUtilityAccount (RID 504) exists, disabled, on every Windows 10/11 host
[C]: its presence proves nothing (docs/domain.md §6). On a host it is tagged
``wdag_anomaly`` only when enabled, logged on, or its password was set
after the account was created; inside a sandbox all of that is normal.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sandtrace.core.events import EventData
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.parsers.winreg_hive import filetime
from sandtrace.plugins.winreg import WDAG_ANOMALY, event

USERS = "HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account\\Users"
WDAG_RID = 504
ACB_DISABLED = 0x0001
_F_VALUE = struct.Struct("<HHIQQQQQIIIHHHH")  # up to the logon count, 68 bytes
_V_STRINGS = 0xCC  # 17 descriptors of 12 bytes
_PASSWORD_CHANGE_SLACK = 3600 * 10**7  # FILETIME units: one hour after creation


class SamUsersPlugin(WinRegistryPlugin):
    NAME = "windows_sam_users"
    DATA_FORMAT = "Security Accounts Manager (SAM) users Registry data"
    DATA_TYPES = ("windows:registry:sam_users",)
    KEY_PATHS = (USERS,)

    def parse_key(self, key, hive) -> Iterator[EventData]:
        names = key.subkey("Names")
        created = {sub.name: sub for sub in names.subkeys()} if names else {}
        for sub in key.subkeys():
            if sub.name.lower() == "names":
                continue
            f_data, v_data = sub.value("F"), sub.value("V")
            if not isinstance(f_data, bytes) or len(f_data) < _F_VALUE.size or not isinstance(v_data, bytes):
                sub.errors.append(f"{sub.path}: missing or short F or V value")
                continue
            (_, _, _, last_login, _, password_set, expires, failed_login, rid, _, flags,
             _, _, failed_count, login_count) = _F_VALUE.unpack_from(f_data)
            username, fullname, comments = (_v_string(v_data, index) for index in (1, 2, 3))
            name_key = created.get(username)
            values = dict(
                account_rid=rid,
                username=username,
                fullname=fullname,  # plaso keeps empty strings
                comments=comments,
                key_path=key.path,
                login_count=login_count,
                account_flags=flags,
                account_disabled=bool(flags & ACB_DISABLED),
                failed_login_count=failed_count,
                last_login_time=filetime(last_login),
                last_password_set_time=filetime(password_set),
                last_password_failure_time=filetime(failed_login),
                account_expiration_time=filetime(expires),
                last_written_time=name_key.last_written_time if name_key else None,
            )
            reasons = _wdag_anomalies(rid, flags, login_count, last_login, password_set, name_key)
            on_host = not hive.in_sandbox
            yield event(
                "windows:registry:sam_users",
                tags=[WDAG_ANOMALY] if reasons and on_host else None,
                wdag_anomalies=reasons if on_host else None,
                **values,
            )


def _v_string(data: bytes, index: int) -> str:
    offset, size = struct.unpack_from("<II", data, index * 12)
    start = _V_STRINGS + offset
    return data[start : start + size].decode("utf-16-le", "backslashreplace")


def _wdag_anomalies(rid, flags, login_count, last_login, password_set, name_key) -> list[str] | None:
    """Why a WDAGUtilityAccount record is unusual for a host, or None."""
    if rid != WDAG_RID:
        return None
    reasons = []
    if not flags & ACB_DISABLED:
        reasons.append("account enabled")
    if login_count or last_login:
        reasons.append("account has logged on")
    # [I] Names\<name> is written when the account is created (OS install) and
    # rarely after; a password set well after it was set by someone.
    created = name_key.raw.get_last_written_time_as_integer() if name_key else 0
    if password_set and created and password_set > created + _PASSWORD_CHANGE_SLACK:
        reasons.append("password changed after the account was created")
    return reasons or None
