#!/bin/bash
# Interleaved A/B of two checkouts on one image: extract --format json_line,
# alternately, with the output's SHA-256 beside each time.
#   bench/ab.sh OLD_CHECKOUT NEW_CHECKOUT IMAGE PAIRS [extract options...]
#   ORDER="new old" bench/ab.sh ...   (which side runs first in each pair)
# Both run with this checkout's .venv and their own code first on PYTHONPATH
# (e.g. OLD_CHECKOUT from `git worktree add /work/ab-old <commit>`).
set -u
OLD=$1; NEW=$2; IMG=$3; PAIRS=$4; shift 4
PY=$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python
OUT=$(mktemp -d)
for _ in $(seq 1 "$PAIRS"); do
  for side in ${ORDER:-old new}; do
    code=$OLD; [ "$side" = new ] && code=$NEW
    rm -f "$OUT/$side.jsonl" "$OUT/$side.jsonl.meta.json"
    start=$(date +%s.%N)
    (cd "$OUT" && PYTHONPATH=$code "$PY" -c "import sys; from sandtrace.cli import main; sys.exit(main())" \
      extract "$IMG" -q --format json_line -o "$OUT/$side.jsonl" "$@")
    end=$(date +%s.%N)
    echo "$side $(echo "$end - $start" | bc) $(sha256sum "$OUT/$side.jsonl" | cut -c1-16)"
  done
done
rm -rf "$OUT"
