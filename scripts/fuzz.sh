#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZTIME each, default 10s).
# A crasher is written under the package's testdata/fuzz/<Target>/ by go
# test; keep that file (it is a regression test run by plain `go test`)
# after fixing the bug. FUZZPARALLEL sets the workers per target (default:
# go test's, one per CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-10s}
parallel=()
if [[ -n "${FUZZPARALLEL:-}" ]]; then
	parallel=(-parallel "$FUZZPARALLEL")
fi

targets=(
	"./internal/pulsemsg FuzzDecodeTaskMessages"
	"./internal/pulsemsg FuzzDecodeBuildMessages"
	"./internal/config FuzzParse"
	"./internal/payload FuzzParse"
	"./internal/dburl FuzzParse"
	"./internal/dburl FuzzRedactedHidesPassword"
	"./internal/buildbotrest FuzzDecodePush"
)

failed=0
for entry in "${targets[@]}"; do
	read -r pkg target <<<"$entry"
	log=$(mktemp)
	if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "${parallel[@]}" "$pkg" >"$log" 2>&1; then
		summary=$(grep -o 'elapsed: [^,]*, execs: [0-9]*' "$log" | tail -1 || true)
		echo "ok   $pkg $target (${summary:-no progress line})"
	else
		failed=1
		echo "FAIL $pkg $target"
		cat "$log"
	fi
	rm -f "$log"
done
exit "$failed"
