"""The winreg parser on real hives (the test corpus's registry folder, docs/test-data.md): SAM agrees with regipy, nothing crashes."""

from __future__ import annotations

import datetime
import glob
import lzma
import os
import shutil

import pytest

from sandtrace.core.events import WARNING_DATA_TYPE
from tests.conftest import corpus_file
from tests.test_winreg import parse_file

pytestmark = pytest.mark.corpus


def _decompressed(tmp_path, relative: str, name: str) -> str:
    source = corpus_file("registry", *relative.split("/"))
    target = tmp_path / name
    target.write_bytes(lzma.decompress(open(source, "rb").read()))
    return str(target)


def _microseconds(filetime: int) -> int:
    return (filetime - 116444736000000000) // 10


def _iso_microseconds(text: str) -> int:
    moment = datetime.datetime.fromisoformat(text)
    return round((moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds() * 10**6)


@pytest.mark.parametrize("hive", ["plaso/SAM", "regipy/SAM"])
def test_every_sam_account_agrees_with_regipy(hive):
    from regipy.plugins.sam.samparse import SAMParsePlugin
    from regipy.registry import RegistryHive

    path = corpus_file("registry", *hive.split("/"))
    registry = RegistryHive(path)
    names = {
        int(next(sub.iter_values()).value_type): (sub.name, sub.header.last_modified)
        for sub in registry.get_key(r"\SAM\Domains\Account\Users\Names").iter_subkeys()
    }
    plugin = SAMParsePlugin(registry, as_json=True)
    plugin.run()
    expected = {entry["rid"]: entry for entry in plugin.entries}

    accounts = {d.values["account_rid"]: d.values for d in parse_file(path) if d.data_type == "windows:registry:sam_users"}
    assert set(accounts) == set(expected) == set(names) and len(accounts) == 3
    for rid, ours in accounts.items():
        theirs = expected[rid]
        assert ours["username"] == names[rid][0]
        assert ours["last_written_time"].timestamp == names[rid][1]
        assert ours["login_count"] == theirs["login_count"]
        assert ours["account_flags"] == theirs["account_flags"]
        assert ours["account_disabled"] == ("Account Disabled" in theirs["account_flags_parsed"])
        for attribute, field in (("last_login_time", "last_login"), ("last_password_set_time", "password_last_set")):
            if theirs[field] is None:
                assert attribute not in ours
            else:  # regipy goes through a float: allow one microsecond
                assert abs(_microseconds(ours[attribute].timestamp) - _iso_microseconds(theirs[field])) <= 1


def test_sam_names_match_the_corpus_description():
    users = {d.values["username"] for d in parse_file(corpus_file("registry", "plaso", "SAM"))}
    assert users == {"Administrator", "gold_administrator", "Guest"}
    users = {d.values["username"] for d in parse_file(corpus_file("registry", "regipy", "SAM"))}
    assert users == {"Administrator", "Guest", "Preston"}


def test_every_plugin_runs_on_every_corpus_hive(tmp_path):
    folder = corpus_file("registry")
    paths = [p for p in glob.glob(os.path.join(folder, "*", "*")) if not p.endswith(("LICENSE", ".xz"))]
    paths.append(_decompressed(tmp_path, "regipy/NTUSER.DAT.xz", "NTUSER.DAT"))
    corrupt = _decompressed(tmp_path, "regipy/corrupted_system_hive.xz", "SYSTEM")
    produced = {}
    for path in paths + [corrupt]:
        out = parse_file(path)
        produced[os.path.basename(path)] = out
        for data in out:  # a plugin exception would show as a warning naming an exception type
            if data.data_type == WARNING_DATA_TYPE:
                assert not data.values["error"].startswith(("TypeError", "AttributeError", "KeyError", "IndexError"))
    assert [d.values["error"][:17] for d in produced["SYSTEM"]] == ["cannot read hive:"]
    corrupt_list = produced["corrupt_sub_key_list.hiv"]
    assert len(corrupt_list) == 1 and "cannot read sub key 8" in corrupt_list[0].values["error"]
    assert sum(d.data_type == "windows:registry:userassist" for d in produced["NTUSER-WIN7.DAT"]) > 50
    # Nothing in these hives involves Windows Sandbox.
    assert not [d for out in produced.values() for d in out if d.tags]


def test_dirty_hive_is_recovered_from_its_newer_log_only(tmp_path):
    hive = _decompressed(tmp_path, "regipy/transactions_NTUSER.DAT.xz", "NTUSER.DAT")
    primary_only = [d for d in parse_file(hive) if d.data_type != WARNING_DATA_TYPE]
    _decompressed(tmp_path, "regipy/transactions_ntuser.dat.log1.xz", "NTUSER.DAT.LOG1")
    _decompressed(tmp_path, "regipy/transactions_ntuser.dat.log2.xz", "NTUSER.DAT.LOG2")
    before = open(hive, "rb").read()
    out = parse_file(hive)
    assert open(hive, "rb").read() == before  # the evidence is never written
    warnings = [d.values for d in out if d.data_type == WARNING_DATA_TYPE]
    assert len(warnings) == 1
    assert warnings[0]["hive_dirty"] is True
    assert (warnings[0]["primary_sequence_number"], warnings[0]["secondary_sequence_number"]) == (567, 566)
    assert warnings[0]["transaction_logs"] == ["NTUSER.DAT.LOG1"]  # LOG2 (562) is older than the hive
    assert warnings[0]["recovered_pages"] == 132
    recovered = [d for d in out if d.data_type != WARNING_DATA_TYPE]
    assert {d.data_type for d in recovered} >= {"windows:registry:userassist"}
    assert len(recovered) >= len(primary_only)


def test_dirty_hive_without_logs_says_so():
    out = parse_file(corpus_file("registry", "regipy", "SECURITY"))
    assert len(out) == 1 and out[0].values["hive_dirty"] is True
    assert "no usable transaction log" in out[0].values["error"]
