"""Attribute-by-attribute comparison of ``windows:evtx:record`` events: plaso's
json_line (log2timeline --parsers winevtx, psort -o json_line) against
sandtrace's, over the records plaso reads as active (in a chunk's record chain).

plaso's json_line does not say which events are recovered, so the active ones
are those whose (record number, xml_string) libevtx, plaso's reader, gives
for the file's active records. Both sides are matched on (file, record_number,
timestamp_desc). Used by tests/test_evtx_plaso_parity.py, and runnable:

    python -m tests.evtx_parity PLASO.jsonl SANDTRACE.jsonl [ROOT]

prints, per attribute (every one plaso writes), how many active records match and differ (ROOT: the
folder both ran on; paths are compared relative to it).
"""

from __future__ import annotations

import collections
import json
import sys
from collections.abc import Iterable, Iterator

DATA_TYPE = "windows:evtx:record"
# Not compared: serialisation keys.
SKIPPED = frozenset({"__container_type__", "__type__"})


def events(path: str) -> Iterator[dict]:
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            if event.get("data_type") == DATA_TYPE:
                yield event


def _file(event: dict, root: str) -> str:
    location = (event.get("pathspec") or {}).get("location") or event.get("display_name", "")
    return location[len(root):].lstrip("/") if root and location.startswith(root) else location


def active_records(path: str) -> set[tuple[int, str]]:
    """(record number, xml_string) of every record libevtx reads in the file's chains."""
    import pyevtx

    evtx_file = pyevtx.file()
    evtx_file.open(path)
    active = set()
    try:
        for index in range(evtx_file.number_of_records):
            try:
                record = evtx_file.get_record(index)
                active.add((record.identifier, record.xml_string))
            except OSError:
                continue
    finally:
        evtx_file.close()
    return active


def compare(plaso: Iterable[dict], sandtrace: Iterable[dict], root: str,
            skipped: frozenset[str] = SKIPPED) -> tuple[dict, list]:
    """{attribute: Counter(match=, differ=)} over plaso's active events, and examples
    of differences (file, record, attribute, plaso's value, sandtrace's)."""
    import os

    ours: dict[tuple, list[dict]] = collections.defaultdict(list)
    for event in sandtrace:
        if not event.get("recovered"):
            ours[(_file(event, root), event.get("record_number"), event.get("timestamp_desc"))].append(event)
    active: dict[str, set] = {}
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    examples: list[tuple] = []
    for event in plaso:
        name = _file(event, root)
        if name not in active:
            active[name] = active_records(os.path.join(root, name))
        if (event.get("record_number"), event.get("xml_string")) not in active[name]:
            continue  # one of libevtx's recovered records
        candidates = ours.get((name, event.get("record_number"), event.get("timestamp_desc")), [])
        counts["(event)"]["match" if candidates else "missing"] += 1
        if not candidates:
            examples.append((name, event.get("record_number"), "(event)", "present", "missing"))
            continue
        mine = min(candidates, key=lambda c: sum(c.get(k) != v for k, v in event.items()))
        for key, value in event.items():
            if key in skipped:
                continue
            if mine.get(key) == value:
                counts[key]["match"] += 1
            else:
                counts[key]["differ"] += 1
                examples.append((name, event.get("record_number"), key, value, mine.get(key)))
    return counts, examples


# l2tcsv columns compared as they are; ``notes`` (sandtrace adds its labels) and ``extra``
# (sandtrace adds attributes: plaso's must be there with plaso's values) are compared apart.
L2TCSV_NOTES, L2TCSV_EXTRA = 14, 16


def _extra(cell: str) -> dict[str, str]:
    return dict(item.split(": ", 1) if ": " in item else (item, "") for item in cell.split("; ")) if cell != "-" else {}


def recovered_rows(plaso: Iterable[dict], root: str) -> set[tuple]:
    """(file, record number, l2tcsv date, time) of plaso's events of libevtx's recovered records."""
    import datetime
    import os

    active: dict[str, set] = {}
    keys = set()
    for event in plaso:
        name = _file(event, root)
        if name not in active:
            active[name] = active_records(os.path.join(root, name))
        if (event.get("record_number"), event.get("xml_string")) not in active[name]:
            moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=event["timestamp"])
            keys.add((name, event["record_number"], moment.strftime("%m/%d/%Y"), moment.strftime("%H:%M:%S")))
    return keys


def compare_l2tcsv(plaso_rows: list[list[str]], ours: list[list[str]], root: str, skipped_rows: set[tuple],
                   normalise=lambda cell: cell) -> tuple[int, int, list]:
    """Every plaso row (but those of ``skipped_rows``) has its equal among sandtrace's, in
    the same order: (rows matched, rows skipped, problems). ``normalise`` is applied to plaso's cells."""
    import re

    header = plaso_rows[0]
    assert ours[0] == header, (ours[0], header)
    by_cells: dict[tuple, list[int]] = collections.defaultdict(list)
    for index, row in enumerate(ours[1:], 1):
        by_cells[tuple(c for i, c in enumerate(row) if i not in (L2TCSV_NOTES, L2TCSV_EXTRA))].append(index)
    matched, skipped, problems, last = 0, 0, [], 0
    for row in plaso_rows[1:]:
        record = re.search(r"Record Number: (\d+)", row[10])
        name = row[12].removeprefix("OS:")
        name = name[len(root):].lstrip("/") if root and name.startswith(root) else name
        if record and (name, int(record.group(1)), row[0], row[1]) in skipped_rows:
            skipped += 1
            continue
        cells = tuple(normalise(c) for i, c in enumerate(row) if i not in (L2TCSV_NOTES, L2TCSV_EXTRA))
        candidates = by_cells.get(cells)
        if not candidates:
            problems.append(("no equal row", row[:13]))
            continue
        index = candidates.pop(0)
        mine = ours[index]
        theirs_extra, our_extra = _extra(normalise(row[L2TCSV_EXTRA])), _extra(mine[L2TCSV_EXTRA])
        if any(our_extra.get(key) != value for key, value in theirs_extra.items()):
            problems.append(("extra differs", row[:13]))
        if row[L2TCSV_NOTES] != "-" and row[L2TCSV_NOTES] != mine[L2TCSV_NOTES]:
            problems.append(("notes differ", row[:13]))
        if index < last:
            problems.append(("out of order", row[:13]))
        last = index
        matched += 1
    return matched, skipped, problems


def main(argv: list[str]) -> int:
    plaso_path, sandtrace_path = argv[:2]
    root = argv[2] if len(argv) > 2 else ""
    counts, examples = compare(events(plaso_path), events(sandtrace_path), root)
    for key in sorted(counts):
        print(f"{key:22} match {counts[key]['match']:6}  differ {counts[key]['differ']:6}"
              + (f"  missing {counts[key]['missing']}" if counts[key]["missing"] else ""))
    shown = collections.Counter()
    for name, record, key, theirs, mine in examples:
        if shown[key] < 3:
            shown[key] += 1
            print(f"  {key}: {name} #{record}: plaso {str(theirs)[:200]!r} sandtrace {str(mine)[:200]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
