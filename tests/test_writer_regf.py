"""The REGF writer's hives read back identically with libregf and regipy.

Why: sandtrace's registry evidence is built by test_images/writers/regf.py; a
hive is only trustworthy ground truth if independent parsers see exactly the
keys, values (type + bytes), class names and FILETIMEs that were written, and
if the structures (checksum, hbins, cells, ri/lh, db, sk) are well formed.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from dataclasses import dataclass, field
from typing import Any, Optional

import pyregf
import pytest
from construct import ChecksumError
from regipy.registry import NKRecord, RegistryHive
from regipy.structs import VALUE_KEY

from test_images.writers import regf
from test_images.writers.regf import (
    REG_BINARY, REG_DWORD, REG_DWORD_BIG_ENDIAN, REG_EXPAND_SZ, REG_MULTI_SZ, REG_NONE,
    REG_QWORD, REG_SZ, Hive,
)

FT_HIVE = 133_500_000_000_000_001      # odd values: 100 ns precision must survive
FT_DEFAULT = 133_400_000_000_000_007
FT_RUN = 133_511_111_111_111_113
FILE_NAME = "\\??\\C:\\Windows\\System32\\config\\SOFTWARE"
MANY = 1500
ALT_SD = regf.security_descriptor("S-1-5-18", "S-1-5-18", [(0, 0x02, 0x000F003F, "S-1-1-0")])


def utf16z(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\0\0"


@dataclass
class Val:
    """A value as written: raw stored bytes plus what a decoder should return."""
    type: int
    raw: bytes
    decoded: Any


@dataclass
class KeyExp:
    last_written: int
    class_name: Optional[str] = None
    values: dict[str, Val] = field(default_factory=dict)


BIG_BLOB = bytes((i * 7 + i // 256) & 0xFF for i in range(40_000))
BIG_TEXT = "Sandbox " * 2600                                    # 41600 bytes as UTF-16
VALUES: list[tuple[str, int, Any, Val]] = [                     # name, type, input, expected
    ("String", REG_SZ, "C:\\Windows\\explorer.exe",
     Val(REG_SZ, utf16z("C:\\Windows\\explorer.exe"), "C:\\Windows\\explorer.exe")),
    ("Expand", REG_EXPAND_SZ, "%SystemRoot%\\system32",
     Val(REG_EXPAND_SZ, utf16z("%SystemRoot%\\system32"), "%SystemRoot%\\system32")),
    ("Multi", REG_MULTI_SZ, ["one", "twö", "three"],
     Val(REG_MULTI_SZ, "one\0twö\0three\0\0".encode("utf-16-le"), ["one", "twö", "three"])),
    ("Dword", REG_DWORD, 0xDEADBEEF, Val(REG_DWORD, b"\xef\xbe\xad\xde", 0xDEADBEEF)),
    ("BigEndian", REG_DWORD_BIG_ENDIAN, 0x01020304,
     Val(REG_DWORD_BIG_ENDIAN, b"\x01\x02\x03\x04", 0x01020304)),
    ("Qword", REG_QWORD, 0x0123456789ABCDEF,
     Val(REG_QWORD, bytes.fromhex("efcdab8967452301"), 0x0123456789ABCDEF)),
    ("Binary", REG_BINARY, bytes(range(256)), Val(REG_BINARY, bytes(range(256)), bytes(range(256)))),
    ("Tiny", REG_BINARY, b"\x01\x02\x03", Val(REG_BINARY, b"\x01\x02\x03", b"\x01\x02\x03")),
    ("NoneData", REG_NONE, b"\x00\xff" * 5, Val(REG_NONE, b"\x00\xff" * 5, b"\x00\xff" * 5)),
    ("EmptyNone", REG_NONE, b"", Val(REG_NONE, b"", b"")),
    ("EmptySz", REG_SZ, "", Val(REG_SZ, b"\0\0", "")),
    ("", REG_SZ, "default value", Val(REG_SZ, utf16z("default value"), "default value")),
    ("Ünïcode välue", REG_SZ, "ünïcode data ✓", Val(REG_SZ, utf16z("ünïcode data ✓"), "ünïcode data ✓")),
    ("Edge16344", REG_BINARY, b"\xab" * 16344, Val(REG_BINARY, b"\xab" * 16344, b"\xab" * 16344)),
    ("Edge16345", REG_BINARY, b"\xcd" * 16345, Val(REG_BINARY, b"\xcd" * 16345, b"\xcd" * 16345)),
    ("BigData", REG_BINARY, BIG_BLOB, Val(REG_BINARY, BIG_BLOB, BIG_BLOB)),
    ("BigString", REG_SZ, BIG_TEXT, Val(REG_SZ, utf16z(BIG_TEXT), BIG_TEXT)),
]
SORT_NAMES = ["_x", "b", "A", "a1", "Zz", "zy"]
SORT_ORDER = ["A", "a1", "b", "zy", "Zz", "_x"]                # upcased: '_' (0x5f) > 'Z'


def many_name(i: int) -> str:
    return f"{'ab'[i % 2]}Key{i:05d}"                          # mixed case across leaves


def build(minor_version: int = 5, dirty: bool = False) -> tuple[bytes, dict[str, KeyExp]]:
    """The main test hive and, independently stated, what readers must see."""
    hive = Hive(root_name="ROOT", last_written=FT_HIVE, file_name=FILE_NAME,
                default_time=FT_DEFAULT, minor_version=minor_version, dirty=dirty)
    exp = {"": KeyExp(FT_HIVE)}
    run = hive.key("Microsoft\\Windows\\CurrentVersion\\Run", last_written=FT_RUN)
    run.set_value("Sandbox", REG_SZ, "C:\\Windows\\System32\\WindowsSandbox.exe")
    for path in ("Microsoft", "Microsoft\\Windows", "Microsoft\\Windows\\CurrentVersion"):
        exp[path] = KeyExp(FT_DEFAULT)
    exp["Microsoft\\Windows\\CurrentVersion\\Run"] = KeyExp(FT_RUN, values={"Sandbox": Val(
        REG_SZ, utf16z("C:\\Windows\\System32\\WindowsSandbox.exe"),
        "C:\\Windows\\System32\\WindowsSandbox.exe")})
    types = hive.key("Types", last_written=FT_HIVE + 10, class_name="TypesClass")
    for name, vtype, data, _ in VALUES:
        types.set_value(name, vtype, data)
    exp["Types"] = KeyExp(FT_HIVE + 10, "TypesClass", {n: v for n, _, _, v in VALUES})
    hive.key("Empty", last_written=FT_HIVE + 20)
    exp["Empty"] = KeyExp(FT_HIVE + 20)
    hive.key("Ünïcode\\日本語", last_written=FT_HIVE + 30, security=ALT_SD).set_value(
        "Wert ä", REG_DWORD, 7)
    exp["Ünïcode"] = KeyExp(FT_DEFAULT)
    exp["Ünïcode\\日本語"] = KeyExp(FT_HIVE + 30, values={"Wert ä": Val(REG_DWORD, b"\7\0\0\0", 7)})
    hive.key("Sorted", last_written=FT_HIVE + 40)
    exp["Sorted"] = KeyExp(FT_HIVE + 40)
    for i, name in enumerate(SORT_NAMES):
        hive.key(f"Sorted\\{name}", last_written=FT_HIVE + 41 + i)
        exp[f"Sorted\\{name}"] = KeyExp(FT_HIVE + 41 + i)
    many = hive.key("Many", last_written=FT_HIVE + 50)
    many.set_value("", REG_DWORD, MANY)
    exp["Many"] = KeyExp(FT_HIVE + 50, values={"": Val(REG_DWORD, struct.pack("<I", MANY), MANY)})
    for i in reversed(range(MANY)):                             # insertion order must not matter
        ft = FT_HIVE + 1_000_003 * i
        sub = many.key(many_name(i), last_written=ft)
        exp[f"Many\\{many_name(i)}"] = KeyExp(ft)
        if i % 250 == 0:
            sub.set_value("Index", REG_QWORD, i)
            exp[f"Many\\{many_name(i)}"].values["Index"] = Val(REG_QWORD, struct.pack("<Q", i), i)
    return hive.to_bytes(), exp


@pytest.fixture(scope="module")
def main_hive() -> tuple[bytes, dict[str, KeyExp]]:
    return build()


# --- readers, normalized to {path: (last_written, class, {name: (type, raw, decoded)})} ---

def read_pyregf(data: bytes) -> dict[str, tuple[int, Optional[str], dict[str, tuple]]]:
    f = pyregf.file()
    f.open_file_object(io.BytesIO(data))
    out: dict[str, tuple[int, Optional[str], dict[str, tuple]]] = {}

    def walk(key: Any, path: str) -> None:
        values = {}
        for v in key.values:
            raw = v.get_data() or b""                           # pyregf: None for empty data
            if v.type in (REG_SZ, REG_EXPAND_SZ):
                decoded: Any = v.get_data_as_string()
            elif v.type == REG_MULTI_SZ:
                decoded = list(v.get_data_as_multi_string())
            elif v.type in (REG_DWORD, REG_DWORD_BIG_ENDIAN):
                decoded = v.get_data_as_integer() & 0xFFFFFFFF      # libregf: signed int32
            elif v.type == REG_QWORD:
                decoded = v.get_data_as_integer() & 0xFFFFFFFFFFFFFFFF
            else:
                decoded = raw
            values[v.name or ""] = (v.type, raw, decoded)
        out[path] = (key.get_last_written_time_as_integer(), key.class_name, values)
        for sub in key.sub_keys:
            walk(sub, f"{path}\\{sub.name}" if path else sub.name)

    walk(f.get_root_key(), "")
    f.close()
    return out


def read_regipy(path: str) -> dict[str, tuple[int, Optional[str], dict[str, tuple]]]:
    """regipy via NKRecord (exact ints, untrimmed values) plus raw vk bytes."""
    reg = RegistryHive(path)
    out: dict[str, tuple[int, Optional[str], dict[str, tuple]]] = {}

    def raw_values(nk: NKRecord) -> list[bytes]:
        """Each value's bytes via regipy's VALUE_KEY/read_value/_parse_indirect_block."""
        stream = nk._stream
        stream.seek(4096 + 4 + nk.header.values_list_offset)
        offsets = struct.unpack(f"<{nk.values_count}I", stream.read(4 * nk.values_count))
        raws = []
        for off in offsets:
            stream.seek(4096 + 4 + off)
            vk = VALUE_KEY.parse_stream(stream)
            if vk.data_size >= 0x80000000:
                raws.append(struct.pack("<I", vk.data_offset)[:vk.data_size - 0x80000000])
            else:
                record = NKRecord.read_value(vk, stream)
                if vk.data_size > 16344 and record.value[:2] == b"db":   # regipy's own test
                    raws.append(NKRecord._parse_indirect_block(stream, record))
                else:
                    raws.append(record.value)
        return raws

    def walk(nk: NKRecord, path: str) -> None:
        values = {}
        if nk.values_count:
            raws = raw_values(nk)
            for v, raw in zip(nk.iter_values(trim_values=False), raws):
                name = "" if v.name == "(default)" else v.name
                values[name] = (regf_type(v.value_type), raw, v.value)
        cls = nk.get_class_name() if nk.header.class_name_size else None
        out[path] = (nk.header.last_modified, cls, values)
        for sub in nk.iter_subkeys() or ():
            walk(sub, f"{path}\\{sub.name}" if path else sub.name)

    walk(reg.root, "")
    return out


def regf_type(name: str) -> int:
    return {"REG_NONE": 0, "REG_SZ": 1, "REG_EXPAND_SZ": 2, "REG_BINARY": 3, "REG_DWORD": 4,
            "REG_DWORD_BIG_ENDIAN": 5, "REG_MULTI_SZ": 7, "REG_QWORD": 11}[name]


def assert_matches(seen: dict, exp: dict[str, KeyExp], reader: str) -> None:
    assert sorted(seen) == sorted(exp), f"{reader}: key paths differ"
    for path, want in exp.items():
        lw, cls, values = seen[path]
        assert lw == want.last_written, f"{reader}: {path} time"
        assert cls == want.class_name, f"{reader}: {path} class"
        assert list(values) == list(want.values), f"{reader}: {path} value names/order"
        for name, v in want.values.items():
            vtype, raw, decoded = values[name]
            want_raw = v.raw
            if reader == "libregf" and 0 < len(v.raw) < 4:
                want_raw = v.raw.ljust(4, b"\0")[4 - len(v.raw):]   # see test_reader_disagreements
            assert (vtype, raw) == (v.type, want_raw), f"{reader}: {path}\\{name} raw"
            if reader == "regipy" and v.type == REG_DWORD_BIG_ENDIAN:
                continue        # regipy decodes it from the resident offset as a cell offset
            if want_raw == v.raw:
                assert decoded == v.decoded, f"{reader}: {path}\\{name} decoded"


# --- tests ---------------------------------------------------------------------------

def test_libregf_reads_everything(main_hive: tuple[bytes, dict[str, KeyExp]]) -> None:
    data, exp = main_hive
    assert_matches(read_pyregf(data), exp, "libregf")


def test_regipy_reads_everything(main_hive: tuple[bytes, dict[str, KeyExp]], tmp_path: Any) -> None:
    data, exp = main_hive
    (tmp_path / "SOFTWARE").write_bytes(data)
    assert_matches(read_regipy(str(tmp_path / "SOFTWARE")), exp, "regipy")


def test_regipy_high_level_api(main_hive: tuple[bytes, dict[str, KeyExp]], tmp_path: Any) -> None:
    """recurse_subkeys/get_key/header as sandtrace-style code would use them."""
    data, exp = main_hive
    (tmp_path / "SOFTWARE").write_bytes(data)
    reg = RegistryHive(str(tmp_path / "SOFTWARE"))
    assert reg.header.last_modification_time == FT_HIVE
    assert reg.header.file_name == FILE_NAME[-31:]           # Windows keeps the name's tail
    epoch = dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)
    seen = {}
    for sub in reg.recurse_subkeys():
        path = sub.path.lstrip("\\")
        seen[path] = sub
        want = epoch + dt.timedelta(microseconds=exp[path].last_written // 10)
        # regipy converts via float(wintime / 10): ~2 us of rounding at today's dates.
        assert abs(sub.timestamp - want) <= dt.timedelta(microseconds=2), path
        names = ["" if v.name == "(default)" else v.name for v in sub.values]
        assert names == list(exp[path].values), path
        assert [regf_type(v.value_type) for v in sub.values] == [
            v.type for v in exp[path].values.values()], path
    assert sorted(seen) == sorted(exp)
    run = reg.get_key("\\Microsoft\\Windows\\CurrentVersion\\Run")
    assert run.get_value("Sandbox") == "C:\\Windows\\System32\\WindowsSandbox.exe"
    assert reg.get_key("\\Types").get_value() == "default value"
    sec = reg.get_key("\\Types").get_security_key_info()
    assert (sec["owner"], sec["group"]) == ("S-1-5-32-544", "S-1-5-18")
    assert [a["sid"] for a in sec["dacl"]] == ["S-1-5-18", "S-1-5-32-544", "S-1-5-32-545"]
    alt = reg.get_key("\\Ünïcode\\日本語").get_security_key_info()
    assert (alt["owner"], [a["sid"] for a in alt["dacl"]]) == ("S-1-5-18", ["S-1-1-0"])


def test_subkey_order_and_name_lookup(main_hive: tuple[bytes, dict[str, KeyExp]], tmp_path: Any) -> None:
    """Leaf lists are in Windows (upcased) order, and libregf's hash lookups find keys."""
    data, _ = main_hive
    f = pyregf.file()
    f.open_file_object(io.BytesIO(data))
    assert [k.name for k in f.get_key_by_path("Sorted").sub_keys] == SORT_ORDER
    many = f.get_key_by_path("Many")
    expected = sorted((many_name(i) for i in range(MANY)), key=str.upper)
    assert [k.name for k in many.sub_keys] == expected
    for i in range(0, MANY, 7):
        assert many.get_sub_key_by_name(many_name(i).upper()).name == many_name(i)
    assert f.get_key_by_path("ünÏcode\\日本語").get_value_by_name("WERT Ä").get_data_as_integer() == 7
    (tmp_path / "h").write_bytes(data)
    reg = RegistryHive(str(tmp_path / "h"))
    assert [k.name for k in reg.get_key("\\Sorted").iter_subkeys()] == SORT_ORDER


def lh_hash(name: str) -> int:
    h = 0
    for ch in name.upper():
        h = (h * 37 + ord(ch)) & 0xFFFFFFFF
    return h


def cell(data: bytes, offset: int) -> bytes:
    """Payload of the allocated cell at a hive-bins offset."""
    size = struct.unpack_from("<i", data, 4096 + offset)[0]
    assert size < 0 and size % 8 == 0
    return data[4096 + offset + 4:4096 + offset - size]


def find_nk(data: bytes, path: str) -> tuple[int, Any]:
    """(offset, parsed nk) of the key at path, walking ri/lh lists with the constructs."""
    offset, nk = 0x20, regf.NK.parse(cell(data, 0x20))
    for part in filter(None, path.split("\\")):
        offsets = []
        lst = cell(data, nk.subkeys_list_offset)
        leaves = regf.INDEX_ROOT.parse(lst).elements if lst[:2] == b"ri" else [nk.subkeys_list_offset]
        for leaf in leaves:
            offsets += [e.key_offset for e in regf.HASH_LEAF.parse(cell(data, leaf)).elements]
        offset, nk = next((o, n) for o, n in ((o, regf.NK.parse(cell(data, o))) for o in offsets)
                          if n.name.decode("ascii" if n.flags & 0x20 else "utf-16-le") == part)
    return offset, nk


def test_structures(main_hive: tuple[bytes, dict[str, KeyExp]]) -> None:
    """Base block, bins, cells, ri+lh, db and sk are what Windows writes; constructs round-trip."""
    data, exp = main_hive
    words = struct.unpack("<127I", data[:508])
    xor = 0
    for w in words:
        xor ^= w
    assert struct.unpack_from("<I", data, 508)[0] == xor
    base = regf.BASE_BLOCK.parse(data[:4096])
    hdr = base.header.value
    assert regf.BASE_BLOCK.build(base) == data[:4096]
    assert (hdr.primary_sequence, hdr.secondary_sequence, hdr.major_version, hdr.minor_version,
            hdr.file_type, hdr.file_format, hdr.root_cell_offset, hdr.clustering_factor) == (
                1, 1, 1, 5, 0, 1, 0x20, 1)
    assert hdr.last_written == FT_HIVE and len(data) == 4096 + hdr.hive_bins_data_size
    with pytest.raises(ChecksumError):
        regf.BASE_BLOCK.parse(data[:100] + b"X" + data[101:4096])

    parsers = {b"nk": regf.NK, b"vk": regf.VK, b"lh": regf.HASH_LEAF, b"lf": regf.HASH_LEAF,
               b"li": regf.INDEX_LEAF, b"ri": regf.INDEX_ROOT, b"sk": regf.SK, b"db": regf.DB}
    counts: dict[bytes, int] = {}
    pos = 4096
    while pos < len(data):                                      # every bin, every cell
        hb = regf.HBIN_HEADER.parse(data[pos:pos + 32])
        assert hb.offset == pos - 4096 and hb.size % 4096 == 0
        assert regf.HBIN_HEADER.build(hb) == data[pos:pos + 32]
        assert hb.timestamp == (FT_HIVE if pos == 4096 else 0)
        c = pos + 32
        while c < pos + hb.size:
            parsed = regf.CELL.parse(data[c:])
            assert parsed.size % 8 == 0 and regf.CELL.build(parsed) == data[c:c + abs(parsed.size)]
            sig = parsed.data[:2]
            if parsed.size < 0 and sig in parsers:
                obj = parsers[sig].parse(parsed.data)
                built = parsers[sig].build(obj)
                assert parsed.data.startswith(built), sig
                counts[sig] = counts.get(sig, 0) + 1
            c += abs(parsed.size)
        assert c == pos + hb.size
        pos += hb.size
    assert counts[b"nk"] == len(exp) and counts[b"sk"] == 2 and counts[b"db"] == 3
    assert counts[b"ri"] == 1 and b"lf" not in counts
    li = regf.INDEX_LEAF.build(dict(elements=[0x20, 0x1000]))  # defined, not written by Hive
    assert li == b"li\x02\x00\x20\x00\x00\x00\x00\x10\x00\x00"
    assert regf.INDEX_LEAF.build(regf.INDEX_LEAF.parse(li)) == li

    many_off, many = find_nk(data, "Many")
    ri = regf.INDEX_ROOT.parse(cell(data, many.subkeys_list_offset))
    assert len(ri.elements) == 3                                # 1500 keys / 512 per leaf
    names = []
    for leaf_off in ri.elements:
        leaf = regf.HASH_LEAF.parse(cell(data, leaf_off))
        assert leaf.signature == b"lh" and len(leaf.elements) <= 512
        for e in leaf.elements:
            nk = regf.NK.parse(cell(data, e.key_offset))
            names.append(nk.name.decode("ascii"))
            assert e.hash == lh_hash(names[-1])
            assert nk.parent_offset == many_off and nk.flags == 0x20
    assert names == sorted(names, key=str.upper) and len(names) == MANY

    root = regf.NK.parse(cell(data, 0x20))
    assert root.flags == 0x2C and root.name == b"ROOT"
    _, uni = find_nk(data, "Ünïcode")
    assert uni.flags & 0x20 == 0 and uni.name == "Ünïcode".encode("utf-16-le")
    sk = regf.SK.parse(cell(data, root.security_offset))
    alt = find_nk(data, "Ünïcode\\日本語")[1].security_offset
    assert (sk.flink, sk.blink) == (alt, alt) != root.security_offset
    other = regf.SK.parse(cell(data, alt))
    assert (other.flink, other.blink) == (root.security_offset,) * 2
    assert (sk.reference_count, other.reference_count) == (len(exp) - 1, 1)
    assert sk.descriptor == regf.security_descriptor() and other.descriptor == ALT_SD

    _, types = find_nk(data, "Types")
    assert types.largest_value_data_size == len(utf16z(BIG_TEXT))
    vks = struct.unpack(f"<{types.number_of_values}I", cell(data, types.values_list_offset)[
        :4 * types.number_of_values])
    by_name = {}
    for off in vks:
        vk = regf.VK.parse(cell(data, off))
        by_name[vk.name.decode("ascii" if vk.flags & 1 else "utf-16-le")] = vk
    assert by_name[""].flags == 0 and by_name[""].name == b"" and by_name["Tiny"].flags == 1
    assert by_name["Ünïcode välue"].flags == 0
    assert types.largest_value_name_length == len("Ünïcode välue") * 2
    assert by_name["Tiny"].data_size == 0x80000003 and by_name["EmptyNone"].data_size == 0x80000000
    assert cell(data, by_name["Edge16344"].data_offset)[:16344] == b"\xab" * 16344
    for name, size in (("Edge16345", 16345), ("BigData", 40000), ("BigString", len(BIG_TEXT) * 2 + 2)):
        db = regf.DB.parse(cell(data, by_name[name].data_offset))
        assert by_name[name].data_size == size and db.number_of_segments == -(-size // 16344)


def test_deterministic() -> None:
    assert build()[0] == build()[0]


@pytest.mark.parametrize("minor_version", [3, 5])
@pytest.mark.parametrize("dirty", [False, True])
def test_variants(minor_version: int, dirty: bool, tmp_path: Any) -> None:
    """Format 1.3 (lf leaves, big data in one cell) and dirty hives read the same."""
    data, exp = build(minor_version=minor_version, dirty=dirty)
    hdr = regf.BASE_BLOCK.parse(data[:4096]).header.value
    assert hdr.minor_version == minor_version
    assert (hdr.primary_sequence != hdr.secondary_sequence) == dirty
    f = pyregf.file()
    f.open_file_object(io.BytesIO(data))
    assert f.get_format_version() == f"1.{minor_version}"
    assert_matches(read_pyregf(data), exp, "libregf")
    (tmp_path / "h").write_bytes(data)
    assert_matches(read_regipy(str(tmp_path / "h")), exp, "regipy")
    leaf = cell(data, find_nk(data, "Sorted")[1].subkeys_list_offset)
    assert leaf[:2] == (b"lf" if minor_version == 3 else b"lh")


def test_reader_disagreements(tmp_path: Any) -> None:
    """Pin where the readers differ on correct data, so sandtrace code normalizes it.

    REG_MULTI_SZ with an embedded empty string: libregf stops at it, regipy skips it.
    REG_DWORD >= 2**31: libregf returns a signed int, regipy the unsigned value.
    db big data in a format 1.4 hive (Windows' first db version): regipy follows it,
    libregf only expects db from 1.5 on and returns the 12-byte db cell as the data.
    REG_DWORD_BIG_ENDIAN (always resident): regipy reads the inline data as a cell
    offset, so its decoded value is garbage ("" here); its raw vk bytes are right.
    Resident data of 1-3 bytes: Windows (and regipy) keep it in the low bytes of
    the vk data-offset field; libregf copies the field's *last* N bytes instead.
    """
    hive = Hive(last_written=FT_HIVE)
    hive.key("K").set_value("M", REG_MULTI_SZ, ["a", "", "b"]).set_value("D", REG_DWORD, 0xFFFFFFFE)
    hive.key("K").set_value("B", REG_BINARY, b"\x01\x02").set_value(
        "E", REG_DWORD_BIG_ENDIAN, 0x01020304)
    data = hive.to_bytes()
    f = pyregf.file()
    f.open_file_object(io.BytesIO(data))
    value = f.get_key_by_path("K").get_value_by_name("M")
    assert value.get_data() == "a\0\0b\0\0".encode("utf-16-le")
    assert list(value.get_data_as_multi_string()) == ["a"]
    (tmp_path / "h").write_bytes(data)
    assert f.get_key_by_path("K").get_value_by_name("D").get_data_as_integer() == -2
    assert f.get_key_by_path("K").get_value_by_name("B").get_data() == b"\x00\x00"
    key = RegistryHive(str(tmp_path / "h")).get_key("\\K")
    assert key.get_value("M") == ["a", "b"] and key.get_value("D") == 0xFFFFFFFE
    assert key.get_value("B") == b"\x01\x02"
    assert key.get_value("E") == "" != 0x01020304
    assert f.get_key_by_path("K").get_value_by_name("E").get_data_as_integer() == 0x01020304

    blob = bytes(i % 253 for i in range(40_000))
    hive14 = Hive(last_written=FT_HIVE, minor_version=4)
    hive14.key("K").set_value("Big", REG_BINARY, blob)
    data14 = hive14.to_bytes()
    f14 = pyregf.file()
    f14.open_file_object(io.BytesIO(data14))
    assert f14.get_key_by_path("K").get_value_by_name("Big").get_data()[:2] == b"db"
    (tmp_path / "h14").write_bytes(data14)
    assert RegistryHive(str(tmp_path / "h14")).get_key("\\K").get_value("Big") == blob
