"""The whole third-party corpus in one run: no crash, every problem a warning (issue 9)."""

from __future__ import annotations

import json

from sandtrace import cli
from tests.conftest import corpus_file


def test_the_whole_corpus_in_one_run(tmp_path, corpus):
    out = tmp_path / "corpus.jsonl"
    code = cli.main(["extract", corpus, "--paths", "**", "--evtx-anywhere", "--nested-disks", "all",
                     "-o", str(out), "--format", "json_line", "-q", "--no-hash"])
    assert code == 0
    meta = json.loads((tmp_path / "corpus.jsonl.meta.json").read_text())
    assert meta["summary"]["events_written"] > 30000
    warnings = meta["warnings"]
    # The corrupt samples are named in warnings (and nothing else failed silently).
    named = " ".join(w["path"] for w in warnings)
    for sample in ("sample_with_a_bad_chunk_magic.evtx", "corrupt_sub_key_list.hiv", "fat-differential.vhd"):
        assert sample in named, sample
    assert all(w["error"] and w["path"] for w in warnings)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    # The timeline keeps each distinct warning once (psort's de-duplication of identical events).
    in_timeline = {(r["path"], r["error"]) for r in records if r["data_type"] == "sandtrace:warning"}
    assert in_timeline == {(w["path"], w["error"]) for w in warnings}
