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
# Env:   CASE=a (see below) SECS=10 REPS=1 TARGETS="vswitch ovs" TXFIRST=32 QSIZE=256
#        WARMUP=2 (one-second samples dropped at the start)  MEM=256 (testpmd MB)
#        OVS_MODE=client|server  OUT=DIR (keep raw logs there)  BUILD=1 (go build)
#        PERF=1: perf-profile the PMD thread for half the run (perf-*.txt in OUT)
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
# Cases (names as in the performance issue; the OVS peer's names in brackets):
#   a  one flow pair, udp,in_port=N rules, EMC hits (closed io loop)       [a]
#   b  as a with the EMC off: every packet a megaflow lookup                [b1]
#   c  EMC off, testpmd flowgen 4000 flows per direction and a never-matching
#      nw_dst rule, so each flow is its own megaflow: 8000 megaflows       [b4]
#   d  as a with 1518-byte frames (also reported in Gbit/s)
#   e  VXLAN encap + decap loop: br0 -> vxlan -> underlay bridge A -> testpmd
#      wire -> underlay bridge B -> decap -> br0 (overlay packets counted)  [c]
#   f  flow setup: c's rules, EMC on, flowgen 1,000,000 flows: nearly every
#      packet a new megaflow                                               [d]
#   g  idle: both links up, no traffic for SECS s; the PMD thread's CPU time
#   h  latency under light load: namespaces A and B on veths, the switch's
#      ends AF_PACKET ports polled by the PMD (OVS: DPDK net_af_packet vdevs);
#      bench/latprobe sends 1000 datagrams/s A->B, then single datagrams after
#      1 s of silence (wake-up of a parked PMD); one-way delay percentiles.
# PKTLEN, FLOWS and MODE default per case. The last line printed per run is
#   RESULT case=C target=T rep=R mpps=M min= max= cost_ns= cyc= idle_cpu= megaflows= features=
#
# No hugepages are needed: testpmd runs with --no-huge and --single-file-segments,
# so its whole memory is one memfd the switch maps (one vhost-user region); OVS
# gets --no-huge too. Everything lives in a private temp dir and netns, and is
# removed on exit, on error and on Ctrl-C.
set -uo pipefail

SECS=${1:-${SECS:-10}}
REPS=${REPS:-1}
TARGETS=${TARGETS:-vswitch ovs}
CASE=${CASE:-a}
case $CASE in
a | b | g | h) DEF_LEN=64 DEF_MODE=io DEF_FLOWS=1 ;;
c) DEF_LEN=64 DEF_MODE=flowgen DEF_FLOWS=4000 ;;
d) DEF_LEN=1518 DEF_MODE=io DEF_FLOWS=1 ;;
e) DEF_LEN=64 DEF_MODE=io DEF_FLOWS=1 ;;
f) DEF_LEN=64 DEF_MODE=flowgen DEF_FLOWS=1000000 ;;
*) echo "vhost-loop: unknown CASE $CASE (a-h)" >&2; exit 2 ;;
esac
PKTLEN=${PKTLEN:-$DEF_LEN}
MODE=${MODE:-$DEF_MODE}
FLOWS=${FLOWS:-$DEF_FLOWS}
# Switch ports: two vhost-user ports; case e adds the underlay pair.
PORTS="vhu0 vhu1"
[ "$CASE" = e ] && PORTS="vhu0 vhu1 upA upB"
[ "$CASE" = h ] && PORTS=""
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
		(cd "$ROOT" && go build -o bin/ ./cmd/... && go build -o bin/latprobe ./bench/latprobe) || die "go build failed"
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
# tp_start DIR SERVER(0|1) SOCK...: starts testpmd in interactive mode on a
# FIFO (fd 3) with its console in DIR/testpmd.log; waits for the prompt.
# io mode forwards port 0<->1 (and 2<->3); flowgen generates FLOWS flows on
# every port and counts what comes back.
tp_start() {
	local d=$1 srv=$2 i
	shift 2
	local socks=("$@") vdevs=() fwd=(--forward-mode=io)
	for i in "${!socks[@]}"; do
		vdevs+=(--vdev "net_virtio_user$i,path=${socks[$i]},server=$srv,queues=1,queue_size=$QSIZE")
	done
	[ "$MODE" = flowgen ] && fwd=(--forward-mode=flowgen --flowgen-flows="$FLOWS")
	mkfifo "$d/tp.in"
	# EAL: --no-huge -m: memory is one memfd (with --single-file-segments one
	# vhost-user region); --no-shconf: no files under /var/run/dpdk; both
	# lcores (main and forwarding) on CPU 0. stdbuf: console unbuffered.
	# virtio-user logs the negotiated features at debug level.
	TP_CMD=(stdbuf -o0 $TESTPMD --file-prefix="${TAG}tp" --no-shconf --no-huge -m "$MEM"
		--single-file-segments --no-pci --lcores=0@0,1@0 "${vdevs[@]}"
		--log-level=pmd.net.virtio.init:debug
		-- -i --nb-cores=1 "${fwd[@]}" --total-num-mbufs=32768 --txpkts="$PKTLEN")
	echo "${TP_CMD[*]}" >"$d/testpmd.cmd"
	: >"$d/testpmd.log"   # exists before the child opens it (it blocks on the FIFO first)
	"${TP_CMD[@]}" <"$d/tp.in" >"$d/testpmd.log" 2>&1 &
	TP_PID=$!
	PIDS+=("$TP_PID")
	exec 3>"$d/tp.in"
	TP_LOG=$d/testpmd.log
	NPORTS=${#socks[@]}
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
		[ "$(tail -n +$((l0 + 1)) "$TP_LOG" | grep -c 'Link status: up')" -ge "$NPORTS" ] && return 0
	done
	return 1
}
# tp_measure BEFORE_HOOK: primes the loop, samples Rx-pps every second for
# SECS s, stops and quits testpmd. Sets MPPS MPPS_MIN MPPS_MAX NSAMP P0 P1.
tp_measure() {
	local hook=$1 i l0
	sleep 2                       # let the back end finish enabling its vrings
	$hook
	local w0 p0 t0 w1 c0 PERF_PID=
	w0=$(date +%s%N); p0=$(run_delay "$SWITCH_PID" '^pmd'); t0=$(run_delay "$TP_PID" .)
	c0=$(cpu_ns "$SWITCH_PID" '^pmd')
	l0=$(wc -l <"$TP_LOG")
	# Case g sends nothing: the loop stays empty and the PMD idles.
	if [ "$CASE" = g ]; then :; elif [ "$MODE" = flowgen ]; then tp_cmd "start"; else tp_cmd "start tx_first $TXFIRST"; fi
	tp_cmd "show port stats all"  # the first call only arms the pps counters
	for i in $(seq "$SECS"); do
		sleep 1; tp_cmd "show port stats all"
		[ "$i" = $((SECS / 2)) ] && others_cpu >"$RUN_DIR/others_cpu" &
		if [ "$i" = "$WARMUP" ] && [ "${PERF:-0}" = 1 ]; then pmd_profile & PERF_PID=$!; fi
	done
	[ "$CASE" = g ] || tp_cmd "stop"
	w1=$(date +%s%N)
	# The PMD thread's share of a core over the run (its time on a CPU).
	PMD_CPU=$(awk -v c="$(($(cpu_ns "$SWITCH_PID" '^pmd') - c0))" -v w=$((w1 - w0)) 'BEGIN { printf "%.2f", c * 100 / w }')
	# Share of the run the threads spent runnable but not running (another
	# process had their CPU): the noise indicator that matters here.
	WAITS="pmd_waited=$(((($(run_delay "$SWITCH_PID" '^pmd') - p0) * 100) / (w1 - w0)))%"
	WAITS+=" testpmd_waited=$(((($(run_delay "$TP_PID" .) - t0) * 100) / (w1 - w0)))%"
	[ "$CASE" = g ] || tp_wait 'Accumulated forward statistics' 10
	wait_for 5 test -s "$RUN_DIR/others_cpu"
	[ -n "${PERF_PID:-}" ] && wait "$PERF_PID"
	# Rx-pps lines come in groups of NPORTS (one per port) per `show port
	# stats all`; the overlay ports 0 and 1 are summed.
	read -r MPPS MPPS_MIN MPPS_MAX NSAMP P0 P1 < <(tail -n +$((l0 + 1)) "$TP_LOG" | awk -v skip=$((WARMUP + 1)) -v np="$NPORTS" '
		/Rx-pps:/ { v[c++] = $2 }
		END {
			k = 0
			for (i = skip; np * i + 1 < c; i++) { s[k] = (v[np*i] + v[np*i+1]) / 1e6; a += v[np*i]; b += v[np*i+1]; k++ }
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

# cpu_ns PID REGEX: nanoseconds the threads of PID whose name matches REGEX
# have run on a CPU (schedstat field 1).
# pmd_profile: with PERF=1, samples the switch's PMD thread(s) with perf for
# half the run (call graphs; frame pointers in both Go and OVS) and keeps
# perf's flat, caller and per-library reports in the run dir (perf-*.txt).
pmd_profile() {
	local t c tids=""
	for t in /proc/"$SWITCH_PID"/task/*; do
		read -r c <"$t/comm" 2>/dev/null || continue
		[[ "$c" =~ ^pmd ]] && tids+="${tids:+,}${t##*/}"
	done
	[ -n "$tids" ] || return 0
	perf record -q -F 1999 -g -t "$tids" -o "$RUN_DIR/perf.data" -- sleep $((SECS / 2)) 2>/dev/null || return 0
	perf report -q -i "$RUN_DIR/perf.data" --no-children --stdio -g none --percent-limit 0.7 >"$RUN_DIR/perf-flat.txt" 2>/dev/null
	perf report -q -i "$RUN_DIR/perf.data" --children --stdio -g none --percent-limit 2 >"$RUN_DIR/perf-tree.txt" 2>/dev/null
	perf report -q -i "$RUN_DIR/perf.data" --no-children --stdio -g none --sort dso >"$RUN_DIR/perf-dso.txt" 2>/dev/null
	rm -f "$RUN_DIR/perf.data"
}
cpu_ns() {
	local t s=0 c
	for t in /proc/"$1"/task/*; do
		read -r c <"$t/comm" 2>/dev/null || continue
		[[ "$c" =~ $2 ]] && s=$((s + $(awk '{ print $1 }' "$t/schedstat" 2>/dev/null || echo 0)))
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

# --- the case's flows and settings (the same for both switches) ----------------
# case_flows: br0's rules, one per line; ofport 1/2 are vhu0/vhu1, 10/11 the
# VXLAN ports of case e.
case_flows() {
	case $CASE in
	e) printf '%s\n' in_port=1,actions=output:10 in_port=11,actions=output:2 \
		in_port=2,actions=output:11 in_port=10,actions=output:1 ;;
	c | f) # the decoys outrank the forwarding rules, so every lookup consults nw_dst
	   printf '%s\n' priority=100,udp,in_port=1,nw_dst=192.0.2.1,actions=drop \
		priority=100,udp,in_port=2,nw_dst=192.0.2.1,actions=drop \
		priority=10,udp,in_port=1,actions=output:2 priority=10,udp,in_port=2,actions=output:1 ;;
	*) printf '%s\n' udp,in_port=1,actions=output:2 udp,in_port=2,actions=output:1 ;;
	esac
}
# case_emc: the emc-insert-inv-prob other_config value (OVS's default is 100).
case_emc() { case $CASE in b | c) echo 0 ;; *) echo 100 ;; esac; }
# underlay_ns NS MAC_A MAC_B: case e's underlay addressing inside the switch's
# netns: A=198.19.1.1 on br-phyA, B=198.19.2.1 on br-phyB; each reaches the
# other through a next hop whose MAC is the other bridge's, so every overlay
# packet leaves through the testpmd "wire" (upA <-> upB).
underlay_ns() {
	ip netns exec "$1" sh -ec "
		sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		ip addr add 198.19.1.1/24 dev br-phyA; ip link set br-phyA up
		ip addr add 198.19.2.1/24 dev br-phyB; ip link set br-phyB up
		ip route add 198.19.2.1/32 via 198.19.1.254 dev br-phyA
		ip route add 198.19.1.1/32 via 198.19.2.254 dev br-phyB
		ip neigh replace 198.19.1.254 lladdr $3 dev br-phyA nud permanent
		ip neigh replace 198.19.2.254 lladdr $2 dev br-phyB nud permanent"
}

# hosts_up NS: case h's two hosts: namespaces $TAG-a (10.77.0.1) and $TAG-b
# (10.77.0.2), each on a veth whose other end (la, lb) is in the switch's
# namespace NS. Static neighbours: no ARP in the measurement.
hosts_up() {
	local n
	SW_NS=$1
	for n in a b; do
		ip netns add "$TAG-$n" || return 1
		NETNS+=("$TAG-$n")
		ip -n "$1" link add l$n type veth peer name eth0 netns "$TAG-$n" || return 1
		ip -n "$1" link set l$n up && ip -n "$TAG-$n" link set eth0 up && ip -n "$TAG-$n" link set lo up || return 1
	done
	ip -n "$TAG-a" addr add 10.77.0.1/24 dev eth0 && ip -n "$TAG-b" addr add 10.77.0.2/24 dev eth0 || return 1
	# Full checksums from the hosts: DPDK's af_packet PMD passes on a
	# partial one as is, and B would drop the datagram.
	for n in a b; do ip netns exec "$TAG-$n" ethtool -K eth0 tx off >/dev/null || return 1; done
	ip -n "$TAG-a" neigh replace 10.77.0.2 lladdr "$(ip netns exec "$TAG-b" cat /sys/class/net/eth0/address)" dev eth0 nud permanent &&
		ip -n "$TAG-b" neigh replace 10.77.0.1 lladdr "$(ip netns exec "$TAG-a" cat /sys/class/net/eth0/address)" dev eth0 nud permanent
}
# probe_measure: case h's measurement (instead of testpmd).
probe_measure() {
	local hook=$1 w0 c0 w1
	$hook
	# Kernel-stamped captures where a datagram enters the switch (its port
	# la) and where it arrives at B (B's end of lb: OVS's af_packet vdev
	# bypasses the qdisc, so a capture on lb would not see what it sends):
	# the switch's own transit time per datagram (latprobe -transit-in),
	# without the hosts' wake-ups.
	local caps=() p ns dev
	for p in la lb; do
		if [ $p = la ]; then ns=$SW_NS dev=la; else ns=$TAG-b dev=eth0; fi
		ip netns exec "$ns" tcpdump -U --immediate-mode -i "$dev" -nn -s 96 --time-stamp-precision=nano -w "$RUN_DIR/$p.pcap" \
			udp dst port 9000 2>"$RUN_DIR/tcpdump-$p.log" &
		caps+=($!)
	done
	wait_for 5 sh -c "grep -q listening '$RUN_DIR/tcpdump-la.log' && grep -q listening '$RUN_DIR/tcpdump-lb.log'"
	sleep 0.5
	w0=$(date +%s%N); c0=$(cpu_ns "$SWITCH_PID" '^pmd')
	"$ROOT/bin/latprobe" -a "$TAG-a" -b "$TAG-b" -dst 10.77.0.2:9000 -count 2000 -interval 1ms \
		-wake "${WAKE_SAMPLES:-15}" -gap 1s >"$RUN_DIR/latprobe.txt" 2>&1
	w1=$(date +%s%N)
	kill -INT "${caps[@]}" 2>/dev/null; wait "${caps[@]}" 2>/dev/null
	"$ROOT/bin/latprobe" -transit-in "$RUN_DIR/la.pcap" -transit-out "$RUN_DIR/lb.pcap" -count 2000 \
		-wake "${WAKE_SAMPLES:-15}" >>"$RUN_DIR/latprobe.txt" 2>&1
	rm -f "$RUN_DIR/la.pcap" "$RUN_DIR/lb.pcap"
	PMD_CPU=$(awk -v c="$(($(cpu_ns "$SWITCH_PID" '^pmd') - c0))" -v w=$((w1 - w0)) 'BEGIN { printf "%.2f", c * 100 / w }')
	LAT=$(awk '/^light:/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			l = sprintf("light_p50_us=%s light_p99_us=%s light_lost=%d", v["p50_us"], v["p99_us"], v["sent"] - v["received"]) }
		/^wake:/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); w[kv[1]] = kv[2] }
			k = sprintf("wake_p50_us=%s wake_max_us=%s wake_lost=%d", w["p50_us"], w["max_us"], w["sent"] - w["received"]) }
		/^switch-wake:/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); x[kv[1]] = kv[2] }
			s = sprintf(" switch_wake_p50_us=%s switch_wake_max_us=%s", x["p50_us"], x["max_us"]) }
		/^switch-light:/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); y[kv[1]] = kv[2] }
			s2 = sprintf(" switch_light_p50_us=%s", y["p50_us"]) }
		END { print l, k s s2 }' "$RUN_DIR/latprobe.txt")
	WAITS="pmd_waited=0% testpmd_waited=0%"
}

# --- target: vswitchd ------------------------------------------------------------
VS=("$ROOT/bin/vsctl")
vs_up() {
	local ns=$TAG-vs p
	ip netns add "$ns" || return 1
	NETNS+=("$ns")
	ip -n "$ns" link set lo up
	mkdir -p "$RUN_DIR/vs"
	VS=("$ROOT/bin/vsctl" --server "$RUN_DIR/vs/run/vswitchd.sock" --timeout 30)
	# Its own netns: the bridge's LOCAL port is a kernel tap named br0. The
	# PMD parks when idle (the default): throughput is measured with it on.
	VSWITCHD_CMD=(ip netns exec "$ns" "$ROOT/bin/vswitchd" --db "$RUN_DIR/vs/conf.db" --run-dir "$RUN_DIR/vs/run"
		--pmd-cores 1 --pmd-poll "${PMD_POLL:-auto}" --log-level warn)
	"${VSWITCHD_CMD[@]}" >"$RUN_DIR/vswitchd.log" 2>&1 &
	SWITCH_PID=$!
	PIDS+=("$SWITCH_PID")
	wait_for 20 test -S "$RUN_DIR/vs/run/vswitchd.sock" || { tail "$RUN_DIR/vswitchd.log" >&2; return 1; }
	wait_for 10 "${VS[@]}" show || return 1
	"${VS[@]}" set Open_vSwitch . other_config:emc-insert-inv-prob="$(case_emc)" || return 1
	"${VS[@]}" add-br br0 \
		-- add-port br0 vhu0 -- set Interface vhu0 type=dpdkvhostuser ofport_request=1 \
		-- add-port br0 vhu1 -- set Interface vhu1 type=dpdkvhostuser ofport_request=2 || return 1
	if [ "$CASE" = e ]; then
		"${VS[@]}" add-br br-phyA -- add-br br-phyB \
			-- add-port br-phyA upA -- set Interface upA type=dpdkvhostuser ofport_request=1 \
			-- add-port br-phyB upB -- set Interface upB type=dpdkvhostuser ofport_request=1 \
			-- add-port br0 vxA -- set Interface vxA type=vxlan options:remote_ip=198.19.2.1 ofport_request=10 \
			-- add-port br0 vxB -- set Interface vxB type=vxlan options:remote_ip=198.19.1.1 ofport_request=11 || return 1
		wait_for 10 ip -n "$ns" link show br-phyB || return 1
		underlay_ns "$ns" "$(ip netns exec "$ns" cat /sys/class/net/br-phyA/address)" \
			"$(ip netns exec "$ns" cat /sys/class/net/br-phyB/address)" || return 1
		for p in br-phyA br-phyB; do
			"${VS[@]}" del-flows $p && "${VS[@]}" add-flow $p in_port=LOCAL,actions=output:1 &&
				"${VS[@]}" add-flow $p in_port=1,actions=LOCAL || return 1
		done
	fi
	if [ "$CASE" = h ]; then
		hosts_up "$ns" || return 1
		"${VS[@]}" del-port br0 vhu0 -- del-port br0 vhu1 \
			-- add-port br0 la -- set Interface la ofport_request=1 \
			-- add-port br0 lb -- set Interface lb ofport_request=2 || return 1
	fi
	"${VS[@]}" del-flows br0 && case_flows | "${VS[@]}" add-flows br0 - || return 1
	SOCKS=()
	for p in $PORTS; do
		wait_for 10 test -S "$RUN_DIR/vs/run/$p" || return 1
		SOCKS+=("$RUN_DIR/vs/run/$p")
	done
	TP_SERVER=0
}
vs_clear() { "${VS[@]}" pmd-stats-clear >/dev/null; "${VS[@]}" show >"$RUN_DIR/show.txt" 2>&1; }
vs_stats() {
	"${VS[@]}" pmd-stats-show >"$RUN_DIR/pmd-stats.txt"
	COST=$(awk '/avg. busy ns per packet:/ { print $NF; exit }' "$RUN_DIR/pmd-stats.txt")
	COST="${COST:-?} ns/pkt"
	MEGAFLOWS=$(awk '/^  megaflows:/ { print $NF; exit }' "$RUN_DIR/pmd-stats.txt")
	HITS=$(awk '/packets received:/ { p = $NF } /emc hits:/ { e = $NF } /megaflow hits:/ { m = $NF }
		/miss with success upcall:/ && !u { u = $NF } END { if (p > 0) printf "emc=%.0f%%,megaflow=%.0f%%,upcalls=%d", e * 100 / p, m * 100 / p, u }' "$RUN_DIR/pmd-stats.txt")
	FEATURES=$(grep -o 'features="\?0x[0-9a-f]*' "$RUN_DIR/show.txt" | head -1 | grep -o '0x[0-9a-f]*')
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
	ovs_vsctl set Open_vSwitch . other_config:emc-insert-inv-prob="$(case_emc)" || return 1
	ovs_vsctl add-br br0 -- set bridge br0 datapath_type=netdev || return 1
	# c, f: no prefix tracking, so the never-matching nw_dst rule makes each
	# megaflow exact on nw_dst (as the peer's b4/d cases).
	case $CASE in c | f) ovs_vsctl -- --id=@ft create Flow_Table name=t0 prefixes=none \
		-- set Bridge br0 flow_tables:0=@ft >/dev/null || return 1 ;; esac
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
	if [ "$CASE" = e ]; then
		local S=$RUN_DIR/sock
		ovs_vsctl -- add-br br-phyA -- set bridge br-phyA datapath_type=netdev other_config:hwaddr=02:00:00:00:0a:01 \
			-- add-br br-phyB -- set bridge br-phyB datapath_type=netdev other_config:hwaddr=02:00:00:00:0b:01 \
			-- add-port br-phyA upA -- set Interface upA type=dpdkvhostuserclient options:vhost-server-path=$S/upA.sock ofport_request=1 \
			-- add-port br-phyB upB -- set Interface upB type=dpdkvhostuserclient options:vhost-server-path=$S/upB.sock ofport_request=1 \
			-- add-port br0 vxA -- set Interface vxA type=vxlan options:remote_ip=198.19.2.1 ofport_request=10 \
			-- add-port br0 vxB -- set Interface vxB type=vxlan options:remote_ip=198.19.1.1 ofport_request=11 || return 1
		SOCKS+=("$S/upA.sock" "$S/upB.sock")
		wait_for 10 ip -n "$ns" link show br-phyB || return 1
		# OVS imports kernel routes and would route to the other bridge's
		# local address directly: drop those, then add its own routes (which
		# also register the tunnel endpoints) and static next hops.
		ip netns exec "$ns" sh -ec '
			sysctl -qw net.ipv6.conf.all.disable_ipv6=1
			ip addr add 198.19.1.1/24 dev br-phyA; ip link set br-phyA up
			ip addr add 198.19.2.1/24 dev br-phyB; ip link set br-phyB up
			ip route del table local local 198.19.1.1 dev br-phyA; ip route del 198.19.1.0/24 dev br-phyA
			ip route del table local local 198.19.2.1 dev br-phyB; ip route del 198.19.2.0/24 dev br-phyB' || return 1
		sleep 1
		ovs_appctl ovs/route/add 198.19.2.1/32 br-phyA 198.19.1.254 >/dev/null &&
			ovs_appctl ovs/route/add 198.19.1.1/32 br-phyB 198.19.2.254 >/dev/null &&
			ovs_appctl tnl/arp/set br-phyA 198.19.1.254 02:00:00:00:0b:01 >/dev/null &&
			ovs_appctl tnl/arp/set br-phyB 198.19.2.254 02:00:00:00:0a:01 >/dev/null || return 1
		for i in br-phyA br-phyB; do
			ovs-ofctl del-flows $i && ovs-ofctl add-flow $i in_port=LOCAL,actions=output:1 &&
				ovs-ofctl add-flow $i in_port=1,actions=LOCAL || return 1
		done
	fi
	if [ "$CASE" = h ]; then
		hosts_up "$ns" || return 1
		ovs_vsctl del-port br0 vhu0 -- del-port br0 vhu1 \
			-- add-port br0 la -- set Interface la type=dpdk options:dpdk-devargs=net_af_packet0,iface=la ofport_request=1 \
			-- add-port br0 lb -- set Interface lb type=dpdk options:dpdk-devargs=net_af_packet1,iface=lb ofport_request=2 || return 1
		SOCKS=()
	fi
	ovs-ofctl del-flows br0 && case_flows | ovs-ofctl add-flows br0 - || return 1
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
		/Used TSC cycles:/ { u = $5; match($0, /\( *[0-9.]+ %/); p = substr($0, RSTART + 1, RLENGTH - 2) + 0 }
		/Rx packets:/ { match($0, /[0-9.]+ cycles\/pkt/); c = substr($0, RSTART, RLENGTH - 11) }
		END { if (c == "") { print "?"; exit }
		      if (d > 0 && p > 0) printf "%s cyc/pkt (%.1f ns)", c, c / (u * 100 / p / d) * 1e9
		      else printf "%s cyc/pkt", c }' "$RUN_DIR/pmd-perf.txt")
	MEGAFLOWS=$(ovs_appctl dpctl/show 2>/dev/null | awk '/flows:/ { print $NF; exit }')
	HITS=$(awk '/packets received:/ && !p { p = $NF } /emc hits:/ && !e { e = $NF } /megaflow hits:/ && !m { m = $NF }
		/miss with success upcall:/ && !u { u = $NF } END { if (p > 0) printf "emc=%.0f%%,megaflow=%.0f%%,upcalls=%d", e * 100 / p, m * 100 / p, u }' "$RUN_DIR/pmd-stats.txt")
	FEATURES=$(grep -o 'negotiated Virtio features: 0x[0-9a-f]*' "$OVS_LOGDIR/ovs-vswitchd.log" | head -1 | grep -o '0x[0-9a-f]*$')
}

# --- one run -----------------------------------------------------------------------
run_one() {   # run_one TARGET REP
	local t=$1 r=$2
	RUN_DIR=$WORK/$t.$r
	mkdir -p "$RUN_DIR"
	MPPS=0 COST=? NSAMP=0 WAITS= PMD_CPU= MEGAFLOWS= HITS= FEATURES= LAT=
	quiet_gate
	case $t in
	vswitch) vs_up || { echo "$t rep $r: vswitchd setup failed" >&2; stop_all; return 1; } ;;
	ovs) ovs_up || { echo "$t rep $r: OVS-DPDK setup failed" >&2; stop_all; return 1; } ;;
	esac
	if [ "$CASE" = h ]; then
		case $t in vswitch) probe_measure vs_clear; vs_stats ;; ovs) probe_measure ovs_clear; ovs_stats ;; esac
	elif tp_start "$RUN_DIR" "$TP_SERVER" "${SOCKS[@]}" && tp_links_up; then
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
	# vswitchd reports nanoseconds: cycles at the TSC rate the kernel reports.
	[ "$t" = vswitch ] && [[ "$ns" =~ ^[0-9.]+$ ]] && cyc=$(awk -v n="$ns" -v m="$TSC_MHZ" 'BEGIN { printf "%.0f", n * m / 1000 }')
	echo "RESULT case=$CASE target=$t rep=$r mpps=$MPPS min=${MPPS_MIN:-0} max=${MPPS_MAX:-0} pktlen=$PKTLEN cost_ns=$ns cyc=$cyc pmd_cpu=${PMD_CPU:--} megaflows=${MEGAFLOWS:--} hits=${HITS:--} features=${FEATURES:--} ${LAT:+$LAT }contended=$([ -n "$mark" ] && echo 1 || echo 0)"
}
TSC_MHZ=$(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); print $2; exit }' /proc/cpuinfo)

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
