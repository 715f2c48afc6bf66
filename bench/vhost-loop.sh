#!/usr/bin/env bash
# vhost-user loopback benchmark: DPDK testpmd's two virtio-user ports looped
# through a switch (port 1 -> port 2, port 2 -> port 1), 64-byte frames, a
# closed io-forwarding loop primed with `start tx_first 32`. The switch's one
# PMD runs on CPU 1; testpmd (main and forwarding lcore) runs on CPU 0.
#
# Targets, run one at a time (both PMDs want CPU 1) and alternated per rep:
#   vswitch  bin/vswitchd, two dpdkvhostuser ports (the switch is the server,
#            sockets RUN_DIR/vhu0 and RUN_DIR/vhu1; testpmd connects, server=0).
#   ovs      Debian's OVS-DPDK (ovs-vswitchd-dpdk), private ovsdb and run dir,
#            two dpdkvhostuserclient ports (testpmd is the server, server=1;
#            OVS's recommended mode, dpdkvhostuser is deprecated in OVS 3.1).
#
# Usage: bench/vhost-loop.sh [SECS]           (run as root from anywhere)
# Env:   SECS=10 REPS=1 TARGETS="vswitch ovs" PKTLEN=64 TXFIRST=32 QSIZE=256
#        WARMUP=2 (one-second samples dropped at the start)  MEM=256 (testpmd MB)
#        OVS_MODE=client|server  OUT=DIR (keep raw logs there)  BUILD=1 (go build)
#        QUIET_PCT=15 QUIET_WAIT=120: before each run wait until other processes
#        use < QUIET_PCT % CPU (the machine may be shared), for at most QUIET_WAIT s
#        CONTENDED_PCT=10: a run whose PMD or testpmd waited on a run queue for
#        that share of the run is marked * and left out of the medians
# Prints one line per run and a markdown table of medians over the reps:
#   Mpps = median over one-second samples of testpmd's Rx-pps, port 0 + port 1;
#   vswitch: avg. busy ns per received packet (vsctl pmd-stats-show);
#   ovs: busy cycles per received packet (ovs-appctl dpif-netdev/pmd-perf-show),
#        also converted to ns with the TSC rate that pmd-perf-show implies.
#
# No hugepages are needed: testpmd runs with --no-huge and --single-file-segments,
# so its whole memory is one memfd the switch maps (one vhost-user region); OVS
# gets --no-huge too. Everything lives in a private temp dir and netns, and is
# removed on exit, on error and on Ctrl-C.
set -uo pipefail

SECS=${1:-${SECS:-10}}
REPS=${REPS:-1}
TARGETS=${TARGETS:-vswitch ovs}
PKTLEN=${PKTLEN:-64}
TXFIRST=${TXFIRST:-32}
QSIZE=${QSIZE:-256}
WARMUP=${WARMUP:-2}
MEM=${MEM:-256}
OVS_MODE=${OVS_MODE:-client}
TESTPMD=/usr/bin/dpdk-testpmd
OVS_VSWITCHD=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "vhost-loop: $*" >&2; exit 1; }
log() { echo "# $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (netns, PMD pinning)"
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (testpmd on CPU 0, PMD on CPU 1)"
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -gt "$WARMUP" ] || die "SECS must be an integer > WARMUP ($WARMUP)"

# --- dependencies (Debian packages; only the missing ones are installed) ------
need_pkgs() {
	local missing=() p
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}
need_pkgs dpdk-dev coreutils iproute2
[ -x $TESTPMD ] || die "$TESTPMD missing after installing dpdk-dev"
case " $TARGETS " in *" ovs "*)
	need_pkgs openvswitch-switch-dpdk
	[ -x $OVS_VSWITCHD ] || die "$OVS_VSWITCHD missing after installing openvswitch-switch-dpdk";;
esac
case " $TARGETS " in *" vswitch "*)
	if [ "${BUILD:-1}" = 1 ]; then
		(cd "$ROOT" && go build -o bin/ ./cmd/...) || die "go build failed"
	fi
	[ -x "$ROOT/bin/vswitchd" ] && [ -x "$ROOT/bin/vsctl" ] || die "bin/vswitchd or bin/vsctl missing";;
esac

# --- private state and cleanup -----------------------------------------------
TAG=vhb$(printf '%04x' $((RANDOM * 2 % 65536)))   # DPDK file prefixes, netns names
WORK=$(mktemp -d /tmp/vhbench.XXXXXX)
PIDS=()        # every process this script started (killed by PID only)
NETNS=()       # namespaces this script created

stop_pid() {   # TERM, wait up to 10 s, then KILL
	local p=$1 i
	kill -0 "$p" 2>/dev/null || return 0
	kill -TERM "$p" 2>/dev/null
	for i in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
	kill -KILL "$p" 2>/dev/null
	sleep 0.2
}
stop_all() {   # stop in reverse start order: testpmd, then switch, then ovsdb
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
	PIDS=()
	for i in "${NETNS[@]}"; do ip netns del "$i" 2>/dev/null; done
	NETNS=()
	# DPDK leftovers (none expected with --no-huge/--no-shconf/--in-memory).
	rm -rf /dev/hugepages/"$TAG"* /var/run/dpdk/"$TAG"* 2>/dev/null
}
cleanup() {
	trap - EXIT INT TERM
	exec 3>&- 2>/dev/null
	stop_all
	[ -n "${OUT:-}" ] && { mkdir -p "$OUT" && cp -r "$WORK"/. "$OUT"/; }
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "vhost-loop: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

wait_for() {   # wait_for SECONDS CMD...: poll CMD every 0.1 s
	local n=$(($1 * 10)); shift
	while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}

# --- traffic: testpmd over two virtio-user ports -------------------------------
# tp_start DIR SERVER(0|1) SOCK0 SOCK1: starts testpmd in interactive mode on a
# FIFO (fd 3) with its console in DIR/testpmd.log; waits for the prompt.
tp_start() {
	local d=$1 srv=$2 socks=("$3" "$4") i
	local vdevs=()
	for i in 0 1; do
		vdevs+=(--vdev "net_virtio_user$i,path=${socks[$i]},server=$srv,queues=1,queue_size=$QSIZE")
	done
	mkfifo "$d/tp.in"
	# EAL: --no-huge -m: memory is one memfd (with --single-file-segments one
	# vhost-user region); --no-shconf: no files under /var/run/dpdk; both
	# lcores (main and forwarding) on CPU 0. stdbuf: console unbuffered.
	TP_CMD=(stdbuf -o0 $TESTPMD --file-prefix="${TAG}tp" --no-shconf --no-huge -m "$MEM"
		--single-file-segments --no-pci --lcores=0@0,1@0 "${vdevs[@]}"
		-- -i --nb-cores=1 --forward-mode=io --total-num-mbufs=32768 --txpkts="$PKTLEN")
	echo "${TP_CMD[*]}" >"$d/testpmd.cmd"
	: >"$d/testpmd.log"   # exists before the child opens it (it blocks on the FIFO first)
	"${TP_CMD[@]}" <"$d/tp.in" >"$d/testpmd.log" 2>&1 &
	TP_PID=$!
	PIDS+=("$TP_PID")
	exec 3>"$d/tp.in"
	TP_LOG=$d/testpmd.log
	tp_wait 'testpmd> ' 60 || { tail -20 "$TP_LOG" >&2; return 1; }
}
tp_cmd() { echo "$*" >&3; }
tp_wait() {    # tp_wait REGEX SECONDS
	local n=$(($2 * 10))
	while [ $n -gt 0 ]; do
		grep -q "$1" "$TP_LOG" && return 0
		kill -0 "$TP_PID" 2>/dev/null || return 1
		sleep 0.1; n=$((n - 1))
	done
	return 1
}
# tp_links_up: both ports report link up (the back end set DRIVER_OK/enabled rings).
tp_links_up() {
	local i l0
	for i in $(seq 30); do
		l0=$(wc -l <"$TP_LOG")
		tp_cmd "show port info all"; sleep 1
		[ "$(tail -n +$((l0 + 1)) "$TP_LOG" | grep -c 'Link status: up')" -ge 2 ] && return 0
	done
	return 1
}
# tp_measure BEFORE_HOOK: primes the loop, samples Rx-pps every second for
# SECS s, stops and quits testpmd. Sets MPPS MPPS_MIN MPPS_MAX NSAMP P0 P1.
tp_measure() {
	local hook=$1 i l0
	sleep 2                       # let the back end finish enabling its vrings
	$hook
	local w0 p0 t0 w1
	w0=$(date +%s%N); p0=$(run_delay "$SWITCH_PID" '^pmd'); t0=$(run_delay "$TP_PID" .)
	l0=$(wc -l <"$TP_LOG")
	tp_cmd "start tx_first $TXFIRST"
	tp_cmd "show port stats all"  # the first call only arms the pps counters
	for i in $(seq "$SECS"); do
		sleep 1; tp_cmd "show port stats all"
		[ "$i" = $((SECS / 2)) ] && others_cpu >"$RUN_DIR/others_cpu" &
	done
	tp_cmd "stop"
	w1=$(date +%s%N)
	# Share of the run the threads spent runnable but not running (another
	# process had their CPU): the noise indicator that matters here.
	WAITS="pmd_waited=$(((($(run_delay "$SWITCH_PID" '^pmd') - p0) * 100) / (w1 - w0)))%"
	WAITS+=" testpmd_waited=$(((($(run_delay "$TP_PID" .) - t0) * 100) / (w1 - w0)))%"
	tp_wait 'Accumulated forward statistics' 10
	wait_for 5 test -s "$RUN_DIR/others_cpu"
	# Rx-pps lines come in pairs (port 0, port 1) per `show port stats all`.
	read -r MPPS MPPS_MIN MPPS_MAX NSAMP P0 P1 < <(tail -n +$((l0 + 1)) "$TP_LOG" | awk -v skip=$((WARMUP + 1)) '
		/Rx-pps:/ { v[c++] = $2 }
		END {
			k = 0
			for (i = skip; 2 * i + 1 < c; i++) { s[k] = (v[2*i] + v[2*i+1]) / 1e6; a += v[2*i]; b += v[2*i+1]; k++ }
			if (k == 0) { print "0 0 0 0 0 0"; exit }
			for (i = 1; i < k; i++) { x = s[i]; for (j = i - 1; j >= 0 && s[j] > x; j--) s[j+1] = s[j]; s[j+1] = x }
			m = (k % 2) ? s[(k-1)/2] : (s[k/2-1] + s[k/2]) / 2
			printf "%.2f %.2f %.2f %d %.2f %.2f\n", m, s[0], s[k-1], k, a/k/1e6, b/k/1e6 }')
	tp_cmd "quit"
	exec 3>&-
	wait_for 10 bash -c "! kill -0 $TP_PID"
}

# run_delay PID REGEX: nanoseconds the threads of PID whose name matches REGEX
# have spent waiting on a run queue (/proc/PID/task/TID/schedstat, field 2).
run_delay() {
	local t s=0 c
	for t in /proc/"$1"/task/*; do
		read -r c <"$t/comm" 2>/dev/null || continue
		[[ "$c" =~ $2 ]] && s=$((s + $(awk '{ print $2 }' "$t/schedstat" 2>/dev/null || echo 0)))
	done
	echo $s
}

# others_cpu: %CPU used by processes that are not part of this run (noise on a
# shared machine), from a 1-second top sample.
others_cpu() {
	local ours=" ${PIDS[*]} "
	top -b -n 2 -d 1 -w 250 | awk -v ours="$ours" '
		/^top -/ { k++ } k == 2 && /^ *PID/ { go = 1; next }
		go && $1 ~ /^[0-9]+$/ && index(ours, " " $1 " ") == 0 && $9 > 3 { s += $9; n = n $12 "(" int($9) ") " }
		END { printf "%d%% %s\n", s, n }'
}

# quiet_gate: on a shared machine, wait (up to QUIET_WAIT s, default 120) until
# other processes use less than QUIET_PCT % CPU (default 15) before a run.
quiet_gate() {
	local t0=$SECONDS f ok=0
	while [ $ok -lt 3 ] && [ $((SECONDS - t0)) -lt "${QUIET_WAIT:-120}" ]; do   # 3 quiet samples in a row
		f=$(others_cpu)
		if [ "${f%%%*}" -lt "${QUIET_PCT:-15}" ]; then ok=$((ok + 1)); else ok=0; fi
	done
	QUIET="waited $((SECONDS - t0))s, others ${f%% *}"
}

# --- target: vswitchd ------------------------------------------------------------
VS=("$ROOT/bin/vsctl")
vs_up() {
	local ns=$TAG-vs
	ip netns add "$ns" || return 1
	NETNS+=("$ns")
	ip -n "$ns" link set lo up
	mkdir -p "$RUN_DIR/vs"
	VS=("$ROOT/bin/vsctl" --server "$RUN_DIR/vs/run/vswitchd.sock" --timeout 30)
	# Its own netns: the bridge's LOCAL port is a kernel tap named br0.
	VSWITCHD_CMD=(ip netns exec "$ns" "$ROOT/bin/vswitchd" --db "$RUN_DIR/vs/conf.db" --run-dir "$RUN_DIR/vs/run"
		--pmd-cores 1 --pmd-poll always --log-level warn)
	"${VSWITCHD_CMD[@]}" >"$RUN_DIR/vswitchd.log" 2>&1 &
	SWITCH_PID=$!
	PIDS+=("$SWITCH_PID")
	wait_for 20 test -S "$RUN_DIR/vs/run/vswitchd.sock" || { tail "$RUN_DIR/vswitchd.log" >&2; return 1; }
	wait_for 10 "${VS[@]}" show || return 1
	"${VS[@]}" add-br br0 \
		-- add-port br0 vhu0 -- set Interface vhu0 type=dpdkvhostuser ofport_request=1 \
		-- add-port br0 vhu1 -- set Interface vhu1 type=dpdkvhostuser ofport_request=2 || return 1
	"${VS[@]}" del-flows br0 &&
		"${VS[@]}" add-flow br0 in_port=1,actions=output:2 &&
		"${VS[@]}" add-flow br0 in_port=2,actions=output:1 || return 1
	wait_for 10 test -S "$RUN_DIR/vs/run/vhu1" || return 1
	SOCKS=("$RUN_DIR/vs/run/vhu0" "$RUN_DIR/vs/run/vhu1")
	TP_SERVER=0
}
vs_clear() { "${VS[@]}" pmd-stats-clear >/dev/null; }
vs_stats() {
	"${VS[@]}" pmd-stats-show >"$RUN_DIR/pmd-stats.txt"
	COST=$(awk '/avg. busy ns per packet:/ { print $NF; exit }' "$RUN_DIR/pmd-stats.txt")
	COST="${COST:-?} ns/pkt"
}

# --- target: OVS-DPDK ------------------------------------------------------------
ovs_env() {
	export OVS_RUNDIR=$RUN_DIR/ovs/run OVS_LOGDIR=$RUN_DIR/ovs/log OVS_DBDIR=$RUN_DIR/ovs/db
	OVSDB=unix:$OVS_RUNDIR/db.sock
	OVSCTL=$OVS_RUNDIR/ovs-vswitchd.ctl
}
ovs_vsctl() { ovs-vsctl --db="$OVSDB" --timeout=30 "$@"; }
ovs_appctl() { ovs-appctl -t "$OVSCTL" "$@"; }
ovs_up() {
	local ns=$TAG-ovs i
	ovs_env
	mkdir -p "$OVS_RUNDIR" "$OVS_LOGDIR" "$OVS_DBDIR" "$RUN_DIR/sock"
	ovsdb-tool create "$OVS_DBDIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema || return 1
	ovsdb-server "$OVS_DBDIR/conf.db" --remote=punix:"$OVS_RUNDIR/db.sock" \
		--pidfile="$OVS_RUNDIR/ovsdb-server.pid" --unixctl="$OVS_RUNDIR/ovsdb-server.ctl" \
		--log-file="$OVS_LOGDIR/ovsdb-server.log" --detach 2>>"$RUN_DIR/ovs-console.log" ||
		{ cat "$RUN_DIR/ovs-console.log" >&2; return 1; }
	PIDS+=("$(cat "$OVS_RUNDIR/ovsdb-server.pid")")
	ovs_vsctl --no-wait init || return 1
	# EAL: no hugepages here, so --no-huge -m (dpdk-socket-mem would clash
	# with it). OVS 3.1 appends --in-memory unless --legacy-mem is given, and
	# DPDK refuses --in-memory with --no-huge: pass --legacy-mem, plus
	# --no-shconf so nothing is left under /var/run/dpdk. per-port-memory
	# keeps the mbuf pools small; own file prefix; main/handler threads on
	# CPU 0 (lcore mask), the PMD on CPU 1.
	ovs_vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true \
		other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask=0x2 \
		other_config:dpdk-extra="--file-prefix=${TAG}ovs --no-pci --no-huge --legacy-mem --no-shconf -m 1024" \
		other_config:per-port-memory=true || return 1
	ip netns add "$ns" || return 1
	NETNS+=("$ns")
	ip -n "$ns" link set lo up
	# Called directly the DPDK binary would name its files ovs-vswitchd-dpdk.*;
	# pin the pidfile and control socket names.
	OVS_CMD=(ip netns exec "$ns" $OVS_VSWITCHD "$OVSDB" --pidfile="$OVS_RUNDIR/ovs-vswitchd.pid"
		--unixctl="$OVSCTL" --log-file="$OVS_LOGDIR/ovs-vswitchd.log" -vconsole:err --detach)
	"${OVS_CMD[@]}" 2>>"$RUN_DIR/ovs-console.log" || { tail "$OVS_LOGDIR/ovs-vswitchd.log" >&2; return 1; }
	SWITCH_PID=$(cat "$OVS_RUNDIR/ovs-vswitchd.pid")
	PIDS+=("$SWITCH_PID")
	ovs_vsctl add-br br0 -- set bridge br0 datapath_type=netdev || return 1
	SOCKS=()
	for i in 0 1; do
		if [ "$OVS_MODE" = client ]; then
			SOCKS+=("$RUN_DIR/sock/vhu$i.sock")
			ovs_vsctl add-port br0 vhu$i -- set Interface vhu$i type=dpdkvhostuserclient \
				options:vhost-server-path="$RUN_DIR/sock/vhu$i.sock" ofport_request=$((i + 1)) || return 1
		else
			SOCKS+=("$OVS_RUNDIR/vhu$i")
			ovs_vsctl add-port br0 vhu$i -- set Interface vhu$i type=dpdkvhostuser ofport_request=$((i + 1)) || return 1
		fi
	done
	ovs-ofctl del-flows br0 &&
		ovs-ofctl add-flow br0 in_port=1,actions=output:2 &&
		ovs-ofctl add-flow br0 in_port=2,actions=output:1 || return 1
	if [ "$OVS_MODE" = client ]; then TP_SERVER=1; else TP_SERVER=0; wait_for 10 test -S "${SOCKS[1]}"; fi
}
ovs_clear() { ovs_appctl dpctl/del-flows >/dev/null; ovs_appctl dpif-netdev/pmd-stats-clear >/dev/null; }
ovs_stats() {
	ovs_appctl dpif-netdev/pmd-perf-show >"$RUN_DIR/pmd-perf.txt"
	ovs_appctl dpif-netdev/pmd-stats-show >"$RUN_DIR/pmd-stats.txt"
	# "Rx packets: N (X Kpps, C cycles/pkt)"; the TSC rate is the total cycles
	# ("Used TSC cycles: U (P % of total cycles)") over the measurement duration.
	COST=$(awk '
		/Measurement duration:/ { d = $3 }
		/Used TSC cycles:/ { u = $5; p = $7 }
		/Rx packets:/ { match($0, /[0-9.]+ cycles\/pkt/); c = substr($0, RSTART, RLENGTH - 11) }
		END { if (c == "") { print "?"; exit }
		      if (d > 0 && p > 0) printf "%s cyc/pkt (%.1f ns)", c, c / (u * 100 / p / d) * 1e9
		      else printf "%s cyc/pkt", c }' "$RUN_DIR/pmd-perf.txt")
}

# --- one run -----------------------------------------------------------------------
run_one() {   # run_one TARGET REP
	local t=$1 r=$2
	RUN_DIR=$WORK/$t.$r
	mkdir -p "$RUN_DIR"
	MPPS=0 COST=? NSAMP=0 WAITS=
	quiet_gate
	case $t in
	vswitch) vs_up || { echo "$t rep $r: vswitchd setup failed" >&2; stop_all; return 1; } ;;
	ovs) ovs_up || { echo "$t rep $r: OVS-DPDK setup failed" >&2; stop_all; return 1; } ;;
	esac
	if tp_start "$RUN_DIR" "$TP_SERVER" "${SOCKS[@]}" && tp_links_up; then
		case $t in vswitch) tp_measure vs_clear; vs_stats ;; ovs) tp_measure ovs_clear; ovs_stats ;; esac
	else
		echo "$t rep $r: testpmd did not come up with both links up" >&2
		tail -15 "$TP_LOG" >&2
	fi
	stop_all
	printf '%-7s rep=%d mpps=%s min=%s max=%s samples=%s port0_rx=%s port1_rx=%s cost=%s %s others_cpu=%s(%s)\n' \
		"$t" "$r" "$MPPS" "${MPPS_MIN:-}" "${MPPS_MAX:-}" "$NSAMP" "${P0:-}" "${P1:-}" "$COST" "$WAITS" \
		"$(cat "$RUN_DIR/others_cpu" 2>/dev/null)" "$QUIET"
	# Runs whose PMD or testpmd waited on a run queue for >= CONTENDED_PCT % of
	# the run (another process took their CPU) are marked * and left out of the
	# medians, unless every run of the target was contended.
	local ns cyc=- pw tw mark=
	ns=${COST%% *}
	[[ "$COST" =~ ^([0-9.]+)\ cyc/pkt\ \(([0-9.]+)\ ns\) ]] && { cyc=${BASH_REMATCH[1]}; ns=${BASH_REMATCH[2]}; }
	pw=${WAITS#pmd_waited=}; pw=${pw%%%*}; tw=${WAITS##*testpmd_waited=}; tw=${tw%\%}
	if [ -z "$WAITS" ] || [ "${pw:-0}" -ge "${CONTENDED_PCT:-10}" ] || [ "${tw:-0}" -ge "${CONTENDED_PCT:-10}" ]; then
		mark='*'
	else
		RES_MPPS[$t]+=" $MPPS"; RES_NS[$t]+=" $ns"; RES_CYC[$t]+=" $cyc"
	fi
	ALL_MPPS[$t]+=" $MPPS$mark"; ALL_NS[$t]+=" $ns$mark"
}

median() { tr ' ' '\n' | awk '$1 ~ /^[0-9.]+$/ { v[n++] = $1 } END {
	for (i = 1; i < n; i++) { x = v[i]; for (j = i - 1; j >= 0 && v[j] > x; j--) v[j+1] = v[j]; v[j+1] = x }
	if (n == 0) print "-"; else printf "%.2f\n", (n % 2) ? v[(n-1)/2] : (v[n/2-1] + v[n/2]) / 2 }'; }

declare -A RES_MPPS RES_NS RES_CYC ALL_MPPS ALL_NS
log "secs=$SECS reps=$REPS targets=\"$TARGETS\" pkt=$PKTLEN txfirst=$TXFIRST qsize=$QSIZE ovs_mode=$OVS_MODE work=$WORK"
for r in $(seq "$REPS"); do
	for t in $TARGETS; do run_one "$t" "$r"; done
done
echo
echo "| target | Mpps (median) | Mpps per run | PMD busy ns/pkt (median) | ns/pkt per run | OVS cycles/pkt (median) |"
echo "|---|---|---|---|---|---|"
for t in $TARGETS; do
	if [ -z "${RES_MPPS[$t]:-}" ]; then   # every run contended (or failed): use them all
		RES_MPPS[$t]=$(echo "${ALL_MPPS[$t]:-}" | tr -d '*'); RES_NS[$t]=$(echo "${ALL_NS[$t]:-}" | tr -d '*')
	fi
	cyc=-; [ "$t" = ovs ] && cyc=$(echo "${RES_CYC[$t]:-}" | median)
	echo "| $t | $(echo "${RES_MPPS[$t]}" | median) | ${ALL_MPPS[$t]# } | $(echo "${RES_NS[$t]}" | median) | ${ALL_NS[$t]# } | $cyc |"
done
