"""The .wsb parser: effective settings, risk flags, and hostile input."""

from __future__ import annotations

import os
import time

import pytest

from sandtrace.parsers.wsb import WsbError, parse_config
from tests.conftest import corpus_file

ALL_RISKS_BUT = lambda *left_out: [  # noqa: E731 - readable table below
    flag for flag in (
        "writable_mapped_folder", "mapped_drive_root", "mapped_user_profile", "logon_command",
        "logon_command_from_mapped_folder", "networking_enabled", "clipboard_enabled",
        "vgpu_enabled", "protected_client_disabled",
    ) if flag not in left_out
]
TOGGLES = ("Networking", "vGPU", "AudioInput", "VideoInput", "ProtectedClient", "PrinterRedirection", "ClipboardRedirection")
DESKTOP = "C:\\Users\\WDAGUtilityAccount\\Desktop\\"
PROFILE_MAPPING = ("C:\\Users\\%username%\\WindowsSandbox-ConfigsAndScripts", DESKTOP + "WindowsSandbox-ConfigsAndScripts", True)

# Hand-checked against each file and Microsoft's documented defaults
# (networking, vGPU, audio and clipboard on; video, printer, protected client off).
# file: (toggles in TOGGLES order, MemoryInMB, mappings (host, sandbox, read-only), logon command, risk flags)
CORPUS = {
    "jdhitsolutions-WindowsSandboxTools/wsbconfig/WinSandBx.wsb": (
        (True, True, False, False, False, False, True), 8192,
        [("C:\\scripts", "C:\\scripts", False), ("C:\\Pluralsight", "C:\\Pluralsight", True), ("C:\\Shared", "c:\\shared", False)],
        "C:\\scripts\\wsbScripts\\sandbox-setup.cmd",
        ALL_RISKS_BUT("mapped_drive_root", "mapped_user_profile"),
    ),
    "jdhitsolutions-WindowsSandboxTools/wsbconfig/basic.wsb": (
        (True, True, False, False, False, False, True), 8192,
        [("C:\\scripts", "C:\\scripts", False), ("C:\\shared", "C:\\shared", False)],
        "C:\\scripts\\wsbScripts\\sandbox-basic.cmd",
        ALL_RISKS_BUT("mapped_drive_root", "mapped_user_profile"),
    ),
    "jdhitsolutions-WindowsSandboxTools/wsbconfig/demo.wsb": (
        (True, True, True, False, False, False, True), 8192,
        [("C:\\Scripts", "C:\\Scripts", False)],
        "c:\\scripts\\wsbscripts\\demo.cmd",
        ALL_RISKS_BUT("mapped_drive_root", "mapped_user_profile"),
    ),
    "jdhitsolutions-WindowsSandboxTools/wsbconfig/pluralsight.wsb": (
        (True, True, True, False, False, False, True), 16384,
        [("C:\\scripts", "C:\\scripts", False), ("C:\\Pluralsight", "C:\\Pluralsight", True), ("C:\\Shared", "C:\\shared", False)],
        "C:\\scripts\\wsbScripts\\sandbox-setup-pluralsight.cmd",
        ALL_RISKS_BUT("mapped_drive_root", "mapped_user_profile"),
    ),
    "jdhitsolutions-WindowsSandboxTools/wsbconfig/presentation.wsb": (
        (True, True, True, False, False, False, True), 8192,
        [("C:\\scripts", "C:\\scripts", False), ("C:\\Presentations", "C:\\presentations", False), ("C:\\Shared", "C:\\shared", False)],
        "C:\\scripts\\wsbScripts\\sandbox-setup-presentation.cmd",
        ALL_RISKS_BUT("mapped_drive_root", "mapped_user_profile"),
    ),
    "jdhitsolutions-WindowsSandboxTools/wsbconfig/sample.wsb": (
        (True, True, True, False, False, False, True), 8192,
        [("C:\\scripts", "C:\\scripts", True), ("D:\\shared", "C:\\shared", False)],
        None,
        ALL_RISKS_BUT("mapped_drive_root", "mapped_user_profile", "logon_command", "logon_command_from_mapped_folder"),
    ),
    "jdhitsolutions-WindowsSandboxTools/wsbconfig/work.wsb": (
        (True, True, True, False, False, False, True), 8192,
        [("c:\\work", "c:\\work", False)],
        "C:\\scripts\\windowssandboxtools\\wsbScripts\\basic.cmd",
        ALL_RISKS_BUT("mapped_drive_root", "mapped_user_profile", "logon_command_from_mapped_folder"),
    ),
    "flexxxxer-WindowsSandbox-ConfigsAndScripts/DevEnv.wsb": (
        (True, True, True, False, False, False, True), 8192,
        [PROFILE_MAPPING, ("C:\\Users\\%username%\\source\\repos", DESKTOP + "repos", False)],
        DESKTOP + "WindowsSandbox-ConfigsAndScripts\\SandboxStartups\\DevEnv.wsb.cmd",
        ALL_RISKS_BUT("mapped_drive_root", "mapped_user_profile"),
    ),
    "flexxxxer-WindowsSandbox-ConfigsAndScripts/DevEnvHighContrast.wsb": (
        (True, True, True, False, False, False, True), 8192,
        [PROFILE_MAPPING, ("C:\\Users\\%username%\\source\\repos", DESKTOP + "repos", False)],
        DESKTOP + "WindowsSandbox-ConfigsAndScripts\\SandboxStartups\\DevEnvHighContrast.wsb.cmd",
        ALL_RISKS_BUT("mapped_drive_root", "mapped_user_profile"),
    ),
    **{
        f"flexxxxer-WindowsSandbox-ConfigsAndScripts/{name}.wsb": (
            (True, True, True, False, True, False, True), None,
            [PROFILE_MAPPING, ("C:\\Users\\%username%\\Downloads", "C:\\Users\\WDAGUtilityAccount\\Downloads", True)],
            DESKTOP + f"WindowsSandbox-ConfigsAndScripts\\SandboxStartups\\{name}.wsb.cmd",
            ["logon_command", "logon_command_from_mapped_folder", "networking_enabled", "clipboard_enabled", "vgpu_enabled"],
        )
        for name in ("Downloads", "DownloadsDark", "DownloadsHighContrast")
    },
    "mlocati-windows-sandbox-configuration-schema/test/good/01.xml": (
        (True, True, True, False, True, True, False), 1234,
        [("C:\\Host\\Path1", DESKTOP + "Path1", False), ("C:\\Host\\Path2", DESKTOP + "Path2", True), ("C:\\Host\\Path3", "G:\\Guest\\Path3", False)],
        "command to be invoked",
        ["writable_mapped_folder", "logon_command", "networking_enabled", "vgpu_enabled"],
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_real_wsb_files_effective_settings_and_risks(name):
    toggles, memory, mappings, logon, risks = CORPUS[name]
    config = parse_config(open(corpus_file("wsb", *name.split("/")), "rb").read())
    assert tuple(config.effective[t] for t in TOGGLES) == toggles
    assert config.memory_in_mb == memory
    assert [(m.host_folder, m.sandbox_folder, m.read_only) for m in config.mapped_folders] == mappings
    assert config.logon_command == logon
    assert config.risk_flags == risks
    assert config.problems == []


def test_metadata_element_is_kept_as_unknown_not_dropped():
    config = parse_config(open(corpus_file("wsb", "jdhitsolutions-WindowsSandboxTools", "wsbconfig", "demo.wsb"), "rb").read())
    assert config.unknown_elements == ["Metadata"]


@pytest.mark.parametrize(
    "name, problem",
    [
        ("01.xml", "vGPU has an invalid value 'Foo'"),
        ("02.xml", "Networking has an invalid value 'Foo'"),
        ("03.xml", "MappedFolder without a HostFolder"),
        ("04.xml", "MappedFolder without a HostFolder"),
        ("05.xml", "MappedFolder without a HostFolder"),
    ],
)
def test_schema_bad_samples_are_reported(name, problem):
    path = corpus_file("wsb", "mlocati-windows-sandbox-configuration-schema", "test", "bad", name)
    config = parse_config(open(path, "rb").read())
    assert [p for p in config.problems if p.startswith(problem)], config.problems


def test_mirrorface_configuration():
    """The configuration attributed to MirrorFace (docs/domain.md §1)."""
    config = parse_config(
        "<Configuration><Networking>Enable</Networking><MappedFolders><MappedFolder>"
        "<HostFolder>C:\\ProgramData\\SysCache\\share</HostFolder><SandboxFolder>C:\\sbx</SandboxFolder>"
        "<ReadOnly>false</ReadOnly></MappedFolder></MappedFolders>"
        "<LogonCommand><Command>C:\\sbx\\a1b2.bat</Command></LogonCommand><MemoryInMB>1024</MemoryInMB></Configuration>"
    )
    assert "logon_command_from_mapped_folder" in config.risk_flags
    assert "writable_mapped_folder" in config.risk_flags
    assert config.memory_in_mb == 1024


def test_case_insensitive_names_and_values_and_missing_defaults():
    config = parse_config(
        "<configuration><VGPU>disabled</VGPU><networking>FALSE</networking><mappedfolders><mappedfolder>"
        "<hostfolder>C:\\</hostfolder></mappedfolder><MappedFolder><HostFolder>C:\\Users\\bob</HostFolder>"
        "<ReadOnly>TRUE</ReadOnly></MappedFolder></mappedfolders></configuration>"
    )
    assert config.effective["vGPU"] is False and config.effective["Networking"] is False
    first, second = config.mapped_folders
    assert (first.read_only, first.read_only_as_written, first.sandbox_folder) == (False, None, DESKTOP + "C")
    assert second.read_only is True
    assert {"mapped_drive_root", "mapped_user_profile", "writable_mapped_folder"} <= set(config.risk_flags)


def test_utf16_file_with_bom():
    text = "<Configuration><Networking>Disable</Networking></Configuration>"
    config = parse_config(b"\xff\xfe" + text.encode("utf-16-le"))
    assert config.effective["Networking"] is False


@pytest.mark.parametrize(
    "data, reason",
    [
        (b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]><Configuration>&x;</Configuration>', "hostile XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
            b"<Configuration><Networking>&d;</Networking></Configuration>",
            "hostile XML",
        ),
        (os.urandom(4096), "binary data"),
        (b"<Configuration><Networking>Enable", "not well-formed"),
        (b"<Other/>", "root element is <Other>"),
        (b"x" * (100 * 1024 * 1024), "too large"),
    ],
)
def test_hostile_or_broken_input_is_refused_quickly(data, reason):
    started = time.monotonic()
    with pytest.raises(WsbError, match=reason):
        parse_config(data)
    assert time.monotonic() - started < 5  # a bound on a hang, not a speed test


def test_schema_bad_samples_become_warning_records_in_a_run(tmp_path):
    """In an extraction, a .wsb with invalid settings gives its event and a warning per problem."""
    import shutil

    from sandtrace.engine import sources
    from sandtrace.pipeline.extraction import ExtractionOptions, Extractor

    bad = corpus_file("wsb", "mlocati-windows-sandbox-configuration-schema", "test", "bad", "01.xml")
    shutil.copy(bad, tmp_path / "bad.wsb")
    extractor = Extractor(ExtractionOptions(parsers="wsb"))
    data = list(extractor.run(sources.open_source(str(tmp_path))))
    assert [d.data_type for d in data] == ["windows:sandbox:wsb_config", "sandtrace:warning"]
    assert data[1].values["error"].startswith("invalid .wsb setting: vGPU has an invalid value 'Foo'")
    assert data[1].values["path"].endswith("bad.wsb")


def test_an_unknown_encoding_in_the_declaration_is_a_wsb_error():
    """Found by make fuzz: encoding="ttf-8" raised LookupError out of the parser (and out of the
    EVTX catalogue, which parses inline --config XML with the same code)."""
    from sandtrace.parsers.wsb import WsbError, parse_config

    with pytest.raises(WsbError, match="unknown encoding .ttf-8. named in the XML declaration; not parsed"):
        parse_config(b'<?xml version="1.0" encoding="ttf-8"?><Configuration/>')


# -- encodings: a .wsb is read in whatever encoding its BOM or XML declaration names (issue 17) --

JAPANESE = (
    '<?xml version="1.0" encoding="{encoding}"?>\r\n<Configuration><MappedFolders><MappedFolder>'
    "<HostFolder>C:\\Users\\田中\\デスクトップ\\共有フォルダ</HostFolder><SandboxFolder>C:\\作業</SandboxFolder>"
    "<ReadOnly>false</ReadOnly></MappedFolder></MappedFolders>"
    "<LogonCommand><Command>C:\\作業\\起動①.cmd</Command></LogonCommand></Configuration>"
)


def _japanese_checks(config) -> None:
    assert [(m.host_folder, m.sandbox_folder, m.read_only) for m in config.mapped_folders] == [
        ("C:\\Users\\田中\\デスクトップ\\共有フォルダ", "C:\\作業", False)]
    assert config.logon_command == "C:\\作業\\起動①.cmd"
    assert "logon_command_from_mapped_folder" in config.risk_flags


@pytest.mark.parametrize("declared, codec, used", [
    ("Shift_JIS", "cp932", "cp932"),  # as Windows writes and reads it (code page 932: ① is an NEC extension)
    ("EUC-JP", "euc_jp", "euc_jp"),
    ("GB2312", "gbk", "gbk"),
])
def test_a_wsb_in_an_east_asian_code_page_round_trips(declared, codec, used):
    text = JAPANESE.format(encoding=declared)
    if codec != "cp932":
        text = text.replace("①", "")
    config = parse_config(text.encode(codec))
    if codec != "cp932":
        config.logon_command = config.logon_command.replace(".cmd", "①.cmd")
    _japanese_checks(config)
    assert config.encoding == used and config.attributes()["encoding"] == used


@pytest.mark.parametrize("codec, bom, used", [
    ("utf-16-le", True, "utf-16-le"), ("utf-16-be", True, "utf-16-be"), ("utf-32-le", True, "utf-32-le"),
    ("utf-16-le", False, "utf-16-le"), ("utf-8", True, None),
])
def test_a_wsb_in_utf16_or_utf32_round_trips(codec, bom, used):
    text = ("\ufeff" if bom else "") + JAPANESE.format(encoding="UTF-16" if "16" in codec else codec.upper()[:6])
    config = parse_config(text.encode(codec))
    _japanese_checks(config)
    assert config.encoding == used  # none recorded for UTF-8, the default (undamaged outputs unchanged)


def test_windows_1252_is_read_as_windows_reads_it():
    document = ('<?xml version="1.0" encoding="windows-1252"?><Configuration><LogonCommand>'
                "<Command>C:\\Users\\Müller\\Dokumente\\start – copy.cmd</Command></LogonCommand></Configuration>")
    config = parse_config(document.encode("cp1252"))
    assert config.logon_command == "C:\\Users\\Müller\\Dokumente\\start – copy.cmd"
    assert config.encoding == "cp1252"


@pytest.mark.parametrize("data, message", [
    (b'<?xml version="1.0" encoding="bogus-enc"?><Configuration/>',
     "unknown encoding 'bogus-enc' named in the XML declaration; not parsed"),
    (b'<?xml version="1.0" encoding="base64"?><Configuration/>',
     "base64 (encoding from the XML declaration, base64) is not a text encoding; not parsed"),
    (b'<?xml version="1.0" encoding="UTF-16"?><Configuration/>',
     "the XML declaration names UTF-16 but the file is not UTF-16"),
    (JAPANESE.format(encoding="Shift_JIS").encode("utf-8"),
     "not cp932 text (encoding from the XML declaration, Shift_JIS): byte 118 cannot be decoded (illegal multibyte sequence)"),
])
def test_an_encoding_that_cannot_be_used_is_a_clear_error(data, message):
    with pytest.raises(WsbError) as raised:
        parse_config(data)
    assert str(raised.value).startswith(message)


def test_extract_records_the_encoding_and_warns_on_a_bogus_one(tmp_path):
    import json

    from sandtrace import cli

    triage = tmp_path / "triage"
    triage.mkdir()
    (triage / "japan.wsb").write_bytes(JAPANESE.format(encoding="Shift_JIS").encode("cp932"))
    (triage / "unicode.wsb").write_bytes(_utf16_with_bom(JAPANESE.format(encoding="UTF-16")))
    (triage / "bogus.wsb").write_bytes(b'<?xml version="1.0" encoding="bogus-enc"?><Configuration/>')
    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", str(triage), "--parsers", "wsb", "--format", "json_line", "-o", str(out), "-q"]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    configs = {r["filename"]: r for r in records if r["data_type"] == "windows:sandbox:wsb_config"}
    assert {name: (r["encoding"], r["logon_command"]) for name, r in configs.items()} == {
        "\\japan.wsb": ("cp932", "C:\\作業\\起動①.cmd"),
        "\\unicode.wsb": ("utf-16-le", "C:\\作業\\起動①.cmd"),
    }
    assert [(r["path"], r["error"]) for r in records if r["data_type"] == "sandtrace:warning"] == [
        (f"OS:{triage}/bogus.wsb", "WsbError: unknown encoding 'bogus-enc' named in the XML declaration; not parsed")]


def _utf16_with_bom(text: str) -> bytes:
    return "\ufeff".encode("utf-16-le") + text.encode("utf-16-le")
