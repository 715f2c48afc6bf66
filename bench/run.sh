#!/usr/bin/env bash
# make bench: every performance case against vswitchd and against OVS-DPDK on
# this machine, the two switches' runs interleaved (the order alternates per
# rep), then docs/benchmarks.md's headline section and docs/benchmarks.png
# from the results. Run as root; installs what it needs (dpdk-dev,
# openvswitch-switch-dpdk) through bench/vhost-loop.sh.
#
# Env: QUICK=1 (one rep of cases a, b, g; table and chart go to OUT, not docs/,
#      unless DOCS=1)  REPS=3  CASES="a b c d e f g h"
#      SECS=10 (seconds per run)  QUIET_WAIT=20 (max wait for a quiet machine
#      before each run)  OUT=bench/results/<time> (raw logs and results.txt)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
if [ "${QUICK:-0}" = 1 ]; then
	REPS=${REPS:-1}; CASES=${CASES:-a b g}
else
	REPS=${REPS:-3}; CASES=${CASES:-a b c d e f g h}
fi
SECS=${SECS:-10}
export QUIET_WAIT=${QUIET_WAIT:-20}
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RES=$OUT/results.txt
: >"$RES"
CMD="make bench${QUICK:+ QUICK=$QUICK}"

[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }
echo "# building (go build ./cmd/... and bench/latprobe)"
go build -o bin/ ./cmd/... && go build -o bin/latprobe ./bench/latprobe || exit 1
t0=$SECONDS
for r in $(seq "$REPS"); do
	order="vswitch ovs"
	[ $((r % 2)) = 0 ] && order="ovs vswitch"
	for c in $CASES; do
		for t in $order; do
			echo "# rep $r case $c $t ($((SECONDS - t0)) s)"
			CASE=$c TARGETS=$t REPS=1 BUILD=0 OUT=$OUT/$c.$t.$r bash bench/vhost-loop.sh "$SECS" \
				>"$OUT/$c.$t.$r.log" 2>&1
			line=$(grep '^RESULT ' "$OUT/$c.$t.$r.log" | tail -1)
			if [ -z "$line" ]; then
				echo "#   no result; last lines of $OUT/$c.$t.$r.log:"; tail -5 "$OUT/$c.$t.$r.log" | sed 's/^/#   /'
				continue
			fi
			echo "${line/rep=1 /rep=$r }" | tee -a "$RES"
		done
	done
done
echo "# $(wc -l <"$RES") results in $((SECONDS - t0)) s; raw logs in $OUT"
# A quick run's one-rep figures go beside its results, not over the
# headline in docs/ (DOCS=1 writes them there anyway).
MD=docs/benchmarks.md PNG=docs/benchmarks.png
if [ "${QUICK:-0}" = 1 ] && [ "${DOCS:-0}" != 1 ]; then
	MD=$OUT/benchmarks.md PNG=$OUT/benchmarks.png
fi
go run ./bench/report -in "$RES" -md "$MD" -png "$PNG" -cmd "$CMD" \
	-note "Total wall time $((SECONDS - t0)) s; TSC $(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); print $2; exit }' /proc/cpuinfo) MHz; raw results: bench/results/$(basename "$OUT")/results.txt." &&
	echo "# wrote $MD (make-bench section) and $PNG"
