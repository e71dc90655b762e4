#!/bin/bash
# The SHA-256 of every output of a fixed set of runs (extract in each format and
# worker mode, report, batch) on the committed images and the corpus logs: run it
# on two checkouts and diff the SUMS files to show a change leaves outputs alone.
#   bench/outputs.sh CHECKOUT OUT_DIR   (then: diff A/SUMS B/SUMS)
set -u
R=$(realpath "$1"); O=$(realpath -m "$2")
[ -e "$O" ] && { echo "outputs.sh: $O exists: give a new folder" >&2; exit 2; }
mkdir -p "$O"; cd "$R"
PY=$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python
sandtrace() { PYTHONPATH="$R" "$PY" -c "import sys; from sandtrace.cli import main; sys.exit(main())" "$@"; }
# The images through one fixed path: an output names its source, and psort's
# order of ties hashes the path, so two checkouts compare only at one path.
T=${SANDTRACE_OUTPUTS_IMAGES:-/tmp/sandtrace-outputs-images}
[ -e "$T" ] || ln -s "$R/test_images" "$T"
C=${SANDTRACE_CORPUS:-$R/../shared/corpus}  # the test corpus (docs/test-data.md)
sandtrace extract $T/host.E01 --carve -q -o $O/host.jsonl --format json_line --report $O/host.report.json
sandtrace extract $T/host.E01 --carve -q -o $O/host-w0.jsonl --format json_line --workers 0
sandtrace extract $T/host.E01 --carve -q -o $O/host.csv --format l2tcsv
sandtrace extract $T/host.E01 -q -o $O/host.dyn --format dynamic
sandtrace extract $T/host.E01 -q -o $O/host.ts.jsonl --format timesketch --workers 2
sandtrace extract $T/foundation.E01 -q -o $O/found.jsonl --format json_line --workers 2
sandtrace extract $C/evtx -q --evtx-anywhere -o $O/evtx.jsonl --format json_line --workers 2
sandtrace extract $C/evtx -q --evtx-anywhere -o $O/evtx.csv --format l2tcsv
sandtrace report $O/host.jsonl -o $O/host.md -q
sandtrace batch $T/host.E01 $T/foundation.E01 -q -o $O/batch --format json_line,l2tcsv --split-evtx-mb 0 >/dev/null
for f in $O/host.md $O/host.report.json; do sed -i "s#$O#OUT#g" $f; done
for f in $O/*.jsonl $O/*.csv $O/*.dyn $O/*.md $O/host.report.json; do sha256sum $f; done | sed "s#$O/##" > $O/SUMS
find $O/batch -type f ! -name '*.meta.json' ! -name '*manifest*' ! -name '*.log' | sort | xargs sha256sum | sed "s#$O/##" >> $O/SUMS
cat $O/SUMS
