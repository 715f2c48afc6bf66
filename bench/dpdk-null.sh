#!/usr/bin/env bash
# DPDK vdev benchmark: rx vdev -> switch -> net_null1 tx, one flow
# (in_port=1,actions=output:2; every frame the same 64-byte frame, so every
# packet is an EMC hit), one PMD on CPU 1, everything else on CPU 0.
# net_null1 has no-rx=1, so only one direction carries traffic. The rx vdev
# hands out a full burst on every poll: the PMD is the bottleneck and the
# figure is the switch's own per-packet cost with a DPDK driver under it.
#
# SRC picks the rx vdev:
#   null  net_null0: 64-byte frames of zeros. vswitchd refuses frames with
#         an all-zero source MAC before lookup (as the Linux bridge does), so
#         there it measures rx + drop, not forwarding; OVS forwards them.
#   pcap  (default) net_pcap0,rx_pcap=F,infinite_rx=1: one valid 64-byte
#         UDP frame (02:00:00:00:00:01 -> 02:00:00:00:00:02) replayed from
#         memory, a copy per frame inside the driver: the same for both.
#
# Targets, run one at a time and alternated per rep:
#   vswitch  bin/dpdk/vswitchd (built with -tags dpdk), type=dpdk ports
#            with the default buffers (received mbufs sent as they are)
#   vswitch-copy  the same with options:dpdk-buffers=copy (each frame copied
#            into a datapath buffer on rx and into a fresh mbuf on tx)
#   ovs      Debian's OVS-DPDK (ovs-vswitchd-dpdk), the same vdevs as
#            type=dpdk options:dpdk-devargs=net_null0 / net_null1,no-rx=1
#
# Usage: bench/dpdk-null.sh [SECS]      (root; installs dpdk-dev, libdpdk-dev
#        and openvswitch-switch-dpdk if missing)
# Env:   SECS=10 REPS=3 TARGETS="vswitch vswitch-copy ovs" BUILD=1 (go build -tags dpdk) SRC=pcap|null
#        WARMUP=2 (seconds before the measurement starts)
# Prints one RESULT line per run and a markdown table of medians:
#   Mpps    = growth of net_null1's tx_packets over SECS, / SECS
#   cyc/pkt = the PMD core's cycles per forwarded packet: TSC rate / pps
#             (the PMD is 100% busy here); OVS's own pmd-perf-show figure
#             and vswitchd's busy ns per packet are kept in the raw lines.
# No hugepages are needed: both switches run the EAL with --no-huge.
set -uo pipefail

SECS=${1:-${SECS:-10}}
REPS=${REPS:-3}
TARGETS=${TARGETS:-vswitch vswitch-copy ovs}
WARMUP=${WARMUP:-2}
SRC=${SRC:-pcap}
OVS_VSWITCHD=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "dpdk-null: $*" >&2; exit 1; }
log() { echo "# $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (PMD pinning, DPDK)"
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (PMD on CPU 1, the rest on CPU 0)"
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -gt 0 ] || die "SECS must be a positive integer"

# --- dependencies (as bench/vhost-loop.sh: only the missing ones) -----------
need_pkgs() {
	local missing=() p
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}
need_pkgs dpdk-dev libdpdk-dev pkg-config coreutils util-linux xxd
case " $TARGETS " in *" ovs "*)
	need_pkgs openvswitch-switch-dpdk
	[ -x $OVS_VSWITCHD ] || die "$OVS_VSWITCHD missing after installing openvswitch-switch-dpdk";;
esac
case " $TARGETS " in *" vswitch "* | *" vswitch-copy "*)
	if [ "${BUILD:-1}" = 1 ]; then
		(cd "$ROOT" && go build -tags dpdk -o bin/dpdk/ ./cmd/vswitchd ./cmd/vsctl) || die "go build -tags dpdk failed"
	fi
	[ -x "$ROOT/bin/dpdk/vswitchd" ] && [ -x "$ROOT/bin/dpdk/vsctl" ] || die "bin/dpdk/vswitchd or bin/dpdk/vsctl missing";;
esac
TSC_MHZ=$(awk '/^cpu MHz/ { print $4; exit }' /proc/cpuinfo)

# --- private state and cleanup -----------------------------------------------
TAG=dnb$(printf '%04x' $((RANDOM * 2 % 65536)))   # DPDK file prefixes
WORK=$(mktemp -d /tmp/dnbench.XXXXXX)
PIDS=()
NETNS=()       # namespaces this script created

stop_pid() {   # TERM, wait up to 10 s, then KILL
	local p=$1 i
	kill -0 "$p" 2>/dev/null || return 0
	kill -TERM "$p" 2>/dev/null
	for i in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
	kill -KILL "$p" 2>/dev/null
	sleep 0.2
}
stop_all() {
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
	PIDS=()
	for i in "${NETNS[@]}"; do ip netns del "$i" 2>/dev/null; done
	NETNS=()
	rm -rf /var/run/dpdk/"$TAG"* 2>/dev/null
}
cleanup() {
	trap - EXIT INT TERM
	stop_all
	[ -n "${OUT:-}" ] && { mkdir -p "$OUT" && cp -r "$WORK"/. "$OUT"/; }
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "dpdk-null: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# The rx vdev's devargs.
case $SRC in
null) RX_DEVARGS=net_null0 ;;
pcap)
	# A pcap file of one Ethernet/IPv4/UDP frame of 60 bytes (64 on the
	# wire with the FCS), little-endian pcap header, link type Ethernet.
	PCAP=$WORK/frame.pcap
	printf '%s' \
		d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000 \
		00000000 00000000 3c000000 3c000000 \
		020000000002 020000000001 0800 \
		4500002e 00004000 4011 0000 c0a80001 c0a80002 \
		0400 0400 001a 0000 000000000000000000000000000000000000 |
		xxd -r -p >"$PCAP" || die "cannot write $PCAP (xxd)"
	RX_DEVARGS="net_pcap0,rx_pcap=$PCAP,infinite_rx=1" ;;
*) die "SRC must be pcap or null" ;;
esac

wait_for() {   # wait_for SECONDS CMD...: poll CMD every 0.1 s
	local n=$(($1 * 10)); shift
	while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
	return 1
}

# --- target: vswitchd ---------------------------------------------------------
vs_up() {
	mkdir -p "$RUN_DIR/vs"
	VS=("$ROOT/bin/dpdk/vsctl" --server "$RUN_DIR/vs/run/vswitchd.sock" --timeout 30)
	# Its own netns: the bridge's LOCAL port is a kernel tap named br0.
	# The PMD pins itself to CPU 1; every other thread is moved to CPU 0
	# once the PMD runs (a taskset at start would hide CPU 1 from it).
	local ns=$TAG-vs
	ip netns add "$ns" || return 1
	NETNS+=("$ns")
	ip netns exec "$ns" "$ROOT/bin/dpdk/vswitchd" --db "$RUN_DIR/vs/conf.db" --run-dir "$RUN_DIR/vs/run" \
		--pmd-cores 1 --log-level warn --mem 256M \
		--dpdk-eal-args "--no-huge -m 512 --no-shconf --no-pci --no-telemetry -l 0 --file-prefix ${TAG}vs" \
		>"$RUN_DIR/vswitchd.log" 2>&1 &
	SWITCH_PID=$!
	PIDS+=("$SWITCH_PID")
	wait_for 20 test -S "$RUN_DIR/vs/run/vswitchd.sock" || { tail "$RUN_DIR/vswitchd.log" >&2; return 1; }
	wait_for 10 "${VS[@]}" show || return 1
	"${VS[@]}" add-br br0 \
		-- add-port br0 n0 -- set Interface n0 type=dpdk "options:dpdk-devargs=$RX_DEVARGS" ofport_request=1 $VS_BUF \
		-- add-port br0 n1 -- set Interface n1 type=dpdk "options:dpdk-devargs=net_null1,no-rx=1" ofport_request=2 $VS_BUF || return 1
	"${VS[@]}" del-flows br0 && "${VS[@]}" add-flow br0 in_port=1,actions=output:2 || return 1
	local tid c
	for tid in /proc/"$SWITCH_PID"/task/*; do
		read -r c <"$tid/comm" 2>/dev/null || continue
		[[ "$c" == pmd-* ]] || taskset -p -c 0 "${tid##*/}" >/dev/null
	done
}
vs_tx() { "${VS[@]}" get Interface n1 statistics | grep -o 'tx_packets=[0-9]*' | cut -d= -f2; }
vs_begin() { "${VS[@]}" pmd-stats-clear >/dev/null; }
vs_extra() {
	"${VS[@]}" pmd-stats-show >"$RUN_DIR/pmd-stats.txt"
	local ns emc p
	ns=$(awk '/avg. busy ns per packet:/ { print $NF; exit }' "$RUN_DIR/pmd-stats.txt")
	p=$(awk '/packets received:/ { print $NF; exit }' "$RUN_DIR/pmd-stats.txt")
	emc=$(awk '/emc hits:/ { print $NF; exit }' "$RUN_DIR/pmd-stats.txt")
	EXTRA="busy_ns_pkt=${ns:-?} emc_hits=$(awk -v e="${emc:-0}" -v p="${p:-0}" 'BEGIN { if (p > 0) printf "%.0f%%", e * 100 / p; else print "?" }')"
}

# --- target: OVS-DPDK ------------------------------------------------------------
ovs_up() {
	export OVS_RUNDIR=$RUN_DIR/ovs/run OVS_LOGDIR=$RUN_DIR/ovs/log OVS_DBDIR=$RUN_DIR/ovs/db
	OVSDB=unix:$OVS_RUNDIR/db.sock
	OVSCTL=$OVS_RUNDIR/ovs-vswitchd.ctl
	mkdir -p "$OVS_RUNDIR" "$OVS_LOGDIR" "$OVS_DBDIR"
	ovsdb-tool create "$OVS_DBDIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema || return 1
	taskset -c 0 ovsdb-server "$OVS_DBDIR/conf.db" --remote=punix:"$OVS_RUNDIR/db.sock" \
		--pidfile="$OVS_RUNDIR/ovsdb-server.pid" --unixctl="$OVS_RUNDIR/ovsdb-server.ctl" \
		--log-file="$OVS_LOGDIR/ovsdb-server.log" --detach 2>>"$RUN_DIR/ovs-console.log" ||
		{ cat "$RUN_DIR/ovs-console.log" >&2; return 1; }
	PIDS+=("$(cat "$OVS_RUNDIR/ovsdb-server.pid")")
	ovs_vsctl --no-wait init || return 1
	# As bench/vhost-loop.sh: no hugepages (--no-huge, so --legacy-mem
	# instead of OVS's default --in-memory), nothing under /var/run/dpdk.
	ovs_vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true \
		other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask=0x2 \
		other_config:dpdk-extra="--file-prefix=${TAG}ovs --no-pci --no-huge --legacy-mem --no-shconf -m 1024" \
		other_config:per-port-memory=true || return 1
	local ns=$TAG-ovs
	ip netns add "$ns" || return 1
	NETNS+=("$ns")
	ip netns exec "$ns" taskset -c 0 $OVS_VSWITCHD "$OVSDB" --pidfile="$OVS_RUNDIR/ovs-vswitchd.pid" \
		--unixctl="$OVSCTL" --log-file="$OVS_LOGDIR/ovs-vswitchd.log" -vconsole:err --detach \
		2>>"$RUN_DIR/ovs-console.log" || { tail "$OVS_LOGDIR/ovs-vswitchd.log" >&2; return 1; }
	SWITCH_PID=$(cat "$OVS_RUNDIR/ovs-vswitchd.pid")
	PIDS+=("$SWITCH_PID")
	ovs_vsctl add-br br0 -- set bridge br0 datapath_type=netdev \
		-- add-port br0 n0 -- set Interface n0 type=dpdk "options:dpdk-devargs=$RX_DEVARGS" ofport_request=1 \
		-- add-port br0 n1 -- set Interface n1 type=dpdk "options:dpdk-devargs=net_null1,no-rx=1" ofport_request=2 || return 1
	ovs-ofctl del-flows br0 && ovs-ofctl add-flow br0 in_port=1,actions=output:2 || return 1
}
ovs_vsctl() { ovs-vsctl --db="$OVSDB" --timeout=30 "$@"; }
ovs_appctl() { ovs-appctl -t "$OVSCTL" "$@"; }
# OVS refreshes Interface statistics only every few seconds: its rate is the
# PMD's own (pmd-perf-show's Rx Kpps since the clear), read in ovs_extra.
ovs_tx() { echo 0; }
ovs_begin() { ovs_appctl dpif-netdev/pmd-stats-clear >/dev/null; }
ovs_extra() {
	ovs_appctl dpif-netdev/pmd-perf-show >"$RUN_DIR/pmd-perf.txt"
	ovs_appctl dpif-netdev/pmd-stats-show >"$RUN_DIR/pmd-stats.txt"
	local c emc p
	c=$(grep -o '[0-9.]* cycles/pkt' "$RUN_DIR/pmd-perf.txt" | head -1 | awk '{ print $1 }')
	p=$(awk '/packets received:/ { print $NF; exit }' "$RUN_DIR/pmd-stats.txt")
	emc=$(awk '/emc hits:/ { print $NF; exit }' "$RUN_DIR/pmd-stats.txt")
	OVS_PPS=$(grep -o '[0-9.]* Kpps' "$RUN_DIR/pmd-perf.txt" | head -1 | awk '{ printf "%.0f", $1 * 1000 }')
	EXTRA="ovs_cyc_pkt=${c:-?} emc_hits=$(awk -v e="${emc:-0}" -v p="${p:-0}" 'BEGIN { if (p > 0) printf "%.0f%%", e * 100 / p; else print "?" }')"
}

# --- one run -----------------------------------------------------------------------
run_one() {   # run_one TARGET REP
	local t=$1 r=$2 a b t0 t1 pps f=vs
	RUN_DIR=$WORK/$t.$r
	mkdir -p "$RUN_DIR"
	VS_BUF=
	[ "$t" = vswitch-copy ] && VS_BUF=options:dpdk-buffers=copy
	[ "$t" = ovs ] && f=ovs
	case $t in
	vswitch | vswitch-copy) vs_up || { echo "$t rep $r: setup failed" >&2; stop_all; return 1; } ;;
	ovs) ovs_up || { echo "$t rep $r: setup failed" >&2; stop_all; return 1; } ;;
	esac
	sleep "$WARMUP"
	${f}_begin
	t0=$(date +%s.%N); a=$(${f}_tx)
	sleep "$SECS"
	t1=$(date +%s.%N); b=$(${f}_tx)
	${f}_extra
	stop_all
	pps=$(awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", (b - a) / (t1 - t0) }')
	[ "$t" = ovs ] && pps=${OVS_PPS:-0}
	[ "$pps" -gt 0 ] 2>/dev/null || { echo "$t rep $r: nothing forwarded (tx $a -> $b)" >&2; return 1; }
	local mpps cyc
	mpps=$(awk -v p="$pps" 'BEGIN { printf "%.2f", p / 1e6 }')
	cyc=$(awk -v p="$pps" -v m="$TSC_MHZ" 'BEGIN { printf "%.0f", m * 1e6 / p }')
	echo "RESULT target=$t rep=$r mpps=$mpps cyc_pkt=$cyc $EXTRA"
	echo "$t $mpps $cyc" >>"$WORK/results"
}

log "tag $TAG, ${SECS}s x $REPS reps, targets: $TARGETS, rx $RX_DEVARGS, TSC ${TSC_MHZ} MHz"
for r in $(seq "$REPS"); do
	for t in $TARGETS; do run_one "$t" "$r"; done
done
[ -s "$WORK/results" ] || die "no run produced a result"
echo
echo "| target | Mpps (median) | cycles/packet (median) | runs |"
echo "|---|---|---|---|"
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
for t in $TARGETS; do
	n=$(awk -v t="$t" '$1 == t' "$WORK/results" | wc -l)
	[ "$n" -gt 0 ] || continue
	m=$(awk -v t="$t" '$1 == t { print $2 }' "$WORK/results" | median)
	c=$(awk -v t="$t" '$1 == t { print $3 }' "$WORK/results" | median)
	case $t in
	vswitch) name="vswitchd -tags dpdk (mbufs handed over)" ;;
	vswitch-copy) name="vswitchd -tags dpdk (dpdk-buffers=copy)" ;;
	*) name="OVS-DPDK 3.1 (ovs-vswitchd-dpdk)" ;;
	esac
	echo "| $name | $m | $c | $n |"
done
