"""Fuzzing the .wsb parser: any bytes give a WsbConfig or a WsbError, never another exception, quickly.

Hand-written hostile cases (XXE, billion laughs, 100 MB, binary): tests/test_wsb.py.
"""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from sandtrace.parsers.wsb import WsbConfig, WsbError, parse_config
from tests.fuzz.budget import FUZZ
from tests.fuzz.mutate import mutated

SEED = (
    b'<?xml version="1.0" encoding="utf-8"?>\r\n<Configuration>\r\n  <VGpu>Disable</VGpu>\r\n'
    b"  <Networking>Enable</Networking>\r\n  <MemoryInMB>4096</MemoryInMB>\r\n  <MappedFolders>\r\n"
    b"    <MappedFolder><HostFolder>C:\\Tools</HostFolder><SandboxFolder>C:\\Users\\WDAGUtilityAccount\\Desktop\\Tools"
    b"</SandboxFolder><ReadOnly>false</ReadOnly></MappedFolder>\r\n  </MappedFolders>\r\n"
    b"  <LogonCommand><Command>explorer.exe C:\\users\\WDAGUtilityAccount\\Desktop</Command></LogonCommand>\r\n"
    b"</Configuration>\r\n"
)
ELEMENTS = ["Configuration", "MappedFolders", "MappedFolder", "HostFolder", "SandboxFolder", "ReadOnly", "VGpu",
            "Networking", "LogonCommand", "Command", "MemoryInMB", "AudioInput", "ProtectedClient", "x:Configuration"]
VALUES = ["Enable", "Disable", "Default", "true", "false", "-1", "99999999999999999999", "0x10", "", "C:\\", "..\\..",
          "&amp;", "&#0;", "&#x202e;", "\u202e", "\x1b[2J", "<![CDATA[=cmd]]>", "&xxe;", "%p;"]


def _check(data) -> None:
    started = time.monotonic()
    try:
        result = parse_config(data)
    except WsbError:
        result = None
    assert result is None or isinstance(result, WsbConfig)
    if result is not None:
        result.attributes()
        result.summary()
    assert time.monotonic() - started < 5


@FUZZ
@given(st.binary(max_size=4096))
def test_any_bytes(data):
    _check(data)


@FUZZ
@given(mutated(SEED, max_edits=6))
def test_mutated_valid_file(mutation):
    _check(bytes(mutation))


@st.composite
def _documents(draw, depth=0):
    name = draw(st.sampled_from(ELEMENTS))
    if depth > 3 or draw(st.booleans()):
        body = draw(st.sampled_from(VALUES) | st.text(max_size=20))
        body = body.replace("<", "&lt;") if draw(st.booleans()) else body
    else:
        body = "".join(draw(st.lists(_documents(depth=depth + 1), max_size=4)))
    return f"<{name}>{body}</{name}>"


@FUZZ
@given(_documents(), st.sampled_from(["", '<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>',
                                      '<!DOCTYPE c [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "\ufeff"]),
       st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_structured_documents(body, prolog, encoding):
    _check(("<Configuration>" + body + "</Configuration>" if not body.startswith("<Configuration>") else body))
    _check((prolog + "<Configuration>" + body + "</Configuration>").encode(encoding, "replace"))
