"""Records recovered from free space: sandtrace --carve against EVTXtract-style carving and libevtx.

    PYTHONPATH=. .venv/bin/python bench/free_space_carving.py

The inputs are the images tests/test_free_space_carving.py makes (tests/free_space_images.py):
``host``: a live Security.evtx (records 1-3) and, in freed clusters, the same log later
(records 1-5) twice, hive bins and garbage; ``nested``: the same for a guest (records 10-14,
10-12 live) inside a VHDX freed on a host volume. What each tool is given:

- **sandtrace**: ``extract --carve`` (records and where they come from);
- **EVTXtract-style**: the whole raw image (it knows no file system), chunks found by
  signature whose header checksum holds, records in them by signature and size copy, each
  reported (as EVTXtract lists them), and how many distinct records that is;
- **libevtx** (pyevtx): each of those chunks as a one-chunk log (libevtx opens files, not
  images), its records and recovered records.

Prints a Markdown table (docs/evtx.md, "Free space").
"""

from __future__ import annotations

import io
import os
import struct
import sys
import tempfile
import zlib

import pyevtx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sandtrace.engine import sources  # noqa: E402
from sandtrace.parsers import winevtx_recovery as recovery  # noqa: E402
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor  # noqa: E402
from tests import free_space_images as images  # noqa: E402


def sandtrace_counts(path: str) -> tuple[int, int, int]:
    """(records given, of which carved from free space, distinct record numbers)."""
    extractor = Extractor(ExtractionOptions(parsers="winevtx", carve=True, parser_options={"evtx_anywhere": True}))
    try:
        records = [d for d in extractor.run(sources.open_source(path)) if d.data_type == "windows:evtx:record"]
    finally:
        extractor.close()
    carved = sum(1 for r in records if "volume_offset" in r.values)
    return len(records), carved, len({r.values["record_number"] for r in records})


def raw_chunks(path: str) -> list[bytes]:
    """Chunks anywhere in the raw image, at a sector, whose header checksum holds."""
    with open(path, "rb") as handle:
        data = handle.read()
    found, at = [], data.find(recovery.CHUNK_SIGNATURE)
    while at != -1:
        chunk = data[at:at + recovery.CHUNK_SIZE]
        if at % 512 == 0 and recovery.header_checksum_ok(chunk.ljust(recovery.CHUNK_SIZE, b"\x00")):
            found.append(chunk)
        at = data.find(recovery.CHUNK_SIGNATURE, at + 1)
    return found


def evtxtract_counts(chunks: list[bytes]) -> tuple[int, int]:
    """(records reported, distinct records by id, written time and bytes)."""
    keys = [key for chunk in chunks for key in recovery.record_keys(chunk).values()]
    return len(keys), len(set(keys))


def libevtx_counts(chunks: list[bytes]) -> tuple[int, int]:
    """(records libevtx reads, distinct record identifiers) over the chunks as one-chunk logs."""
    header = bytearray(recovery.FILE_HEADER_SIZE)
    struct.pack_into("<8sQQQIHHHH", header, 0, b"ElfFile\x00", 0, 0, 1, 128, 1, 3, 4096, 1)
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    identifiers = []
    for chunk in chunks:
        log = pyevtx.file()
        log.open_file_object(io.BytesIO(bytes(header) + chunk))
        identifiers += _identifiers(log)
        log.close()
    return len(identifiers), len(set(identifiers))


def _identifiers(log) -> list[int]:
    """The identifiers of the records and recovered records libevtx can read."""
    found = []
    for count, get in ((log.number_of_records, log.get_record),
                       (log.number_of_recovered_records, log.get_recovered_record)):
        for index in range(count):
            try:
                found.append(get(index).identifier)
            except OSError:
                continue
    return found


def main() -> None:
    folder = tempfile.mkdtemp(prefix="sandtrace-bench-")
    inputs = {"host (records 1-5, 1-3 live)": images.host_volume(folder).path,
              "nested (records 10-14, 10-12 live, in a freed VHDX)": images.nested_host(folder).path}
    print("| image | sandtrace: records (carved from free space), distinct | EVTXtract-style: reported, distinct "
          "| libevtx: records, distinct |")
    print("|---|---|---|---|")
    for name, path in inputs.items():
        given, carved, distinct = sandtrace_counts(path)
        chunks = raw_chunks(path)
        reported, unique = evtxtract_counts(chunks)
        read, read_unique = libevtx_counts(chunks)
        print(f"| {name} | {given} ({carved}), {distinct} | {reported}, {unique} | {read}, {read_unique} |")


if __name__ == "__main__":
    main()
