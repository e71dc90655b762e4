"""SAM hive builder for sandtrace's test evidence (host and sandbox guest).

Why: WDAGUtilityAccount (RID 504) is in every Windows 10/11 SAM, disabled on
the host and enabled inside a sandbox; telling the two apart needs SAM hives
whose user F/V values decode exactly like real ones. The layout follows
libyal winreg-kb "Security Accounts Manager keys" and real Windows 10 SAM
hives: ``SAM\\Domains\\Account`` (F: domain policy, V: ends with the machine
SID), ``Users\\<RID as 8 hex digits>`` (F: 80 bytes, V: a 17-entry offset
table of 0xCC bytes followed by the security descriptor and UTF-16 strings),
``Users\\Names\\<name>`` whose default value's *type* is the RID, plus the
Builtin domain and group/alias skeleton keys. Hash material is derived from
a fixed seed, so output is deterministic; it is not a usable credential.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Optional

from test_images.writers.regf import REG_BINARY, REG_DWORD, REG_NONE, Hive, security_descriptor, sid_bytes

NEVER = 0x7FFFFFFFFFFFFFFF
ACB_DISABLED, ACB_PWNOTREQ, ACB_NORMAL, ACB_DONT_EXPIRE = 0x0001, 0x0004, 0x0010, 0x0200
ROOT_NAME = "CsiTool-CreateHive-{00000000-0000-0000-0000-000000000000}"   # Win10+ SAM root key
V_STRINGS_OFFSET = 0xCC        # 17 descriptors x 12 bytes
USER_F = struct.Struct("<HHIQQQQQIIIHHHHIII")     # 80 bytes, plaso's sam.yaml f_value


@dataclass
class SamAccount:
    """One local account as the SAM stores it (times are FILETIMEs, 0 = never)."""

    rid: int
    name: str
    full_name: str = ""
    comment: str = ""
    flags: int = ACB_NORMAL
    login_count: int = 0
    last_login: int = 0
    password_last_set: int = 0
    last_failed_login: int = 0
    failed_count: int = 0
    account_expires: int = NEVER
    key_last_written: int = 0
    has_password: bool = False
    primary_gid: int = 513          # "None" group on workstations


def user_f(acct: SamAccount) -> bytes:
    """The 80-byte F value; offsets as plaso/regipy decode them (RID at 48, ACB at 56)."""
    return USER_F.pack(2, 1, 0, acct.last_login, 0, acct.password_last_set, acct.account_expires,
                       acct.last_failed_login, acct.rid, acct.primary_gid, acct.flags, 0, 0,
                       acct.failed_count, acct.login_count, 1 if acct.login_count else 0, 0, 0)


def _user_sd(machine_sid: str, rid: int) -> bytes:
    """Per-user SD in the shape Windows uses: owner/group BA, the user gets read/write."""
    return security_descriptor(owner="S-1-5-32-544", group="S-1-5-32-544", aces=(
        (0, 0, 0x0002035B, "S-1-1-0"),
        (0, 0, 0x000F07FF, "S-1-5-32-544"),
        (0, 0, 0x0002031B, f"{machine_sid}-{rid}"),
    ))


def _hash_blob(seed: str) -> bytes:
    """An old-style (revision 1) NT hash entry: 4-byte header + 16 bytes from a fixed seed."""
    return b"\x03\x00\x01\x00" + hashlib.sha256(seed.encode()).digest()[:16]


def user_v(machine_sid: str, acct: SamAccount) -> bytes:
    """The V value: 17 (offset, size, unknown) descriptors, then 4-byte-aligned data."""
    fields: list[tuple[bytes, int]] = [(_user_sd(machine_sid, acct.rid), 0x00010002)]
    fields += [(s.encode("utf-16-le"), 0) for s in (acct.name, acct.full_name, acct.comment)]
    fields += [(b"", 0)] * 7                                   # user comment .. workstations
    fields += [(b"", 0)]                                       # logon hours (all allowed)
    fields += [(b"\x01\x02\x00\x00\x07\x00\x00\x00", 1)]       # unknown, as in real hives
    fields += [(b"\x03\x00\x01\x00", 0)]                       # LM hash: header only
    nt = _hash_blob(f"{machine_sid}-{acct.rid}") if acct.has_password else b"\x03\x00\x01\x00"
    fields += [(nt, 0), (b"\x03\x00\x01\x00", 0), (b"\x03\x00\x01\x00", 0)]
    table, data = b"", b""
    for blob, unknown in fields:
        table += struct.pack("<III", len(data), len(blob), unknown)
        data += blob + b"\0" * (-len(blob) % 4)
    assert len(table) == V_STRINGS_OFFSET
    return table + data


def domain_f(next_rid: int, modified: int) -> bytes:
    """Account domain F (240 bytes): policy fields as Windows 10 writes them."""
    head = struct.pack("<HHIQQqqqqqQIIHHHHIII", 2, 1, 0, modified, 0x28,
                       -42 * 864000000000, 0, -(1 << 63), -30 * 600000000, -30 * 600000000,
                       0, next_rid, 1, 7, 24, 0, 0, 1, 3, 1)
    key_blob = hashlib.sha256(b"sandtrace-syskey").digest() * 2
    tail = struct.pack("<III", 0x10000, 1, 0x38) + key_blob[:48] + bytes(8)
    return (head + tail).ljust(240, b"\0")


def domain_v(machine_sid: str) -> bytes:
    """Account domain V: 4 descriptors, the domain SD, then the machine SID (last 24 bytes)."""
    sd = security_descriptor(owner="S-1-5-32-544", group="S-1-5-32-544")
    sid = sid_bytes(machine_sid)
    fields = [(sd, 0x00010002), (sid, 0), (b"", 0), (b"", 0)]
    table, data = b"", b""
    for blob, unknown in fields:
        table += struct.pack("<III", len(data), len(blob), unknown)
        data += blob
    return table + data


def build_sam_hive(machine_sid: str, accounts: list[SamAccount], key_time: int,
                   domain_modified: Optional[int] = None) -> bytes:
    """A SAM hive with the given accounts; key_time stamps the skeleton keys (OS install)."""
    hive = Hive(root_name=ROOT_NAME, last_written=max([key_time] + [a.key_last_written for a in accounts]),
                default_time=key_time, file_name="\\SystemRoot\\System32\\Config\\SAM")
    sam = hive.key("SAM", key_time)
    sam.set_value("C", REG_BINARY, struct.pack("<II", 1, 0) + bytes(160))
    sam.set_value("ServerDomainUpdates", REG_BINARY, b"\xfe\x01")
    hive.key("SAM\\LastSkuUpgrade", key_time).set_value("", REG_DWORD, 0)
    hive.key("SAM\\RXACT", key_time).set_value("", REG_NONE, bytes(12))
    account = hive.key("SAM\\Domains\\Account", domain_modified or key_time)
    next_rid = max([1000] + [a.rid for a in accounts if a.rid >= 1000]) + 1
    account.set_value("F", REG_BINARY, domain_f(next_rid, domain_modified or key_time))
    account.set_value("V", REG_BINARY, domain_v(machine_sid))
    for sub in ("Aliases\\Members", "Aliases\\Names", "Groups\\Names"):
        hive.key(f"SAM\\Domains\\Account\\{sub}", key_time)
    group = hive.key("SAM\\Domains\\Account\\Groups\\00000201", key_time)
    group.set_value("C", REG_BINARY, struct.pack("<II", 0x201, 0) + bytes(40))
    hive.key("SAM\\Domains\\Account\\Groups\\Names\\None", key_time).set_value("", 0x201, b"")
    builtin = hive.key("SAM\\Domains\\Builtin", key_time)
    builtin.set_value("F", REG_BINARY, domain_f(1000, key_time))
    builtin.set_value("V", REG_BINARY, domain_v("S-1-5-32"))
    for sub in ("Aliases\\Members", "Aliases\\Names", "Groups\\Names", "Users\\Names"):
        hive.key(f"SAM\\Domains\\Builtin\\{sub}", key_time)
    users = hive.key("SAM\\Domains\\Account\\Users",
                     max([key_time] + [a.key_last_written for a in accounts]))
    users.set_value("", REG_BINARY, b"")
    names = users.key("Names", max([key_time] + [a.key_last_written for a in accounts]))
    for acct in accounts:
        user = users.key(f"{acct.rid:08X}", acct.key_last_written or key_time)
        user.set_value("F", REG_BINARY, user_f(acct))
        user.set_value("V", REG_BINARY, user_v(machine_sid, acct))
        names.key(acct.name, key_time).set_value("", acct.rid, b"")
    return hive.to_bytes()


def decode_user_f(data: bytes) -> dict[str, int]:
    """Read an F value back (used by tests as an independent check of offsets)."""
    f = USER_F.unpack(data[:80])
    return dict(last_login=f[3], password_last_set=f[5], account_expires=f[6],
                last_failed_login=f[7], rid=f[8], flags=f[10], failed_count=f[13], login_count=f[14])


def decode_user_v_strings(data: bytes) -> tuple[str, str, str]:
    """(name, full name, comment) from a V value's descriptors 1..3."""
    out = []
    for i in (1, 2, 3):
        off, size, _ = struct.unpack_from("<III", data, 12 * i)
        out.append(data[V_STRINGS_OFFSET + off:V_STRINGS_OFFSET + off + size].decode("utf-16-le"))
    return out[0], out[1], out[2]
