#!/usr/bin/env bash
# make demo: start vswitchd on a throw-away store and run dir, join two
# network namespaces to one bridge with veth pairs, ping both ways, move
# 50 MB over TCP (checked with sha256sum) and print the throughput and
# `vsctl show`. Everything it creates is removed on exit, Ctrl-C included.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, veth pairs, AF_PACKET)"
for t in ip ping nc sha256sum ss; do
	command -v "$t" >/dev/null || die "$t not found (apt-get install iproute2 iputils-ping netcat-openbsd)"
done

go build -o bin/ ./cmd/...

id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
work=$(mktemp -d "/tmp/vswitch-demo-$id-XXXX")
ns1=vsdemo-$id-1 ns2=vsdemo-$id-2
v1=vd${id}a v2=vd${id}b # host ends of the veth pairs, ≤15 characters
br=brd$id
sock=$work/run/vswitchd.sock
net=10.$((100 + 0x${id:0:2} % 100)).$((0x${id:2:2}))
pid=

cleanup() {
	trap - EXIT INT TERM
	set +e
	echo "== cleaning up"
	ip netns del "$ns1" 2>/dev/null
	ip netns del "$ns2" 2>/dev/null
	ip link del "$v1" 2>/dev/null
	ip link del "$v2" 2>/dev/null
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	fi
	ip link del "$br" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

vsctl() { bin/vsctl --server "$sock" "$@"; }

cpus=$(cat /sys/devices/system/cpu/online)
pmd=${cpus##*[-,]}
echo "== starting vswitchd (store $work/conf.db, run dir $work/run, PMD on core $pmd)"
bin/vswitchd --db "$work/conf.db" --run-dir "$work/run" --pmd-cores "$pmd" --mem 64M \
	2>"$work/vswitchd.log" &
pid=$!
for _ in $(seq 200); do
	[ -S "$sock" ] && vsctl list-br >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/vswitchd.log" >&2; pid=; die "vswitchd exited"; }
	sleep 0.1
done
vsctl list-br >/dev/null || { cat "$work/vswitchd.log" >&2; die "vswitchd socket not ready"; }

echo "== two namespaces joined to bridge $br"
vsctl add-br "$br"
i=0
for pair in "$ns1:$v1" "$ns2:$v2"; do
	i=$((i + 1))
	ns=${pair%%:*} v=${pair##*:}
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "$v" type veth peer name eth0 netns "$ns"
	ip -n "$ns" addr add "$net.$i/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip link set "$v" up
	vsctl add-port "$br" "$v"
	echo "   $ns eth0 $net.$i/24 <-> $v"
done

echo "== ping both ways"
ip netns exec "$ns1" ping -n -c 3 -i 0.2 -w 10 "$net.2"
ip netns exec "$ns2" ping -n -c 3 -i 0.2 -w 10 "$net.1"

echo "== 50 MB over TCP $ns1 -> $ns2"
head -c 50000000 /dev/urandom >"$work/data"
ip netns exec "$ns2" nc -l "$net.2" 5201 >"$work/recv" &
rx=$!
for _ in $(seq 50); do
	ip netns exec "$ns2" ss -Hltn "sport = :5201" | grep -q . && break
	sleep 0.1
done
t0=$(date +%s.%N)
ip netns exec "$ns1" nc -N "$net.2" 5201 <"$work/data"
wait "$rx"
t1=$(date +%s.%N)
sent=$(sha256sum <"$work/data" | cut -d' ' -f1)
got=$(sha256sum <"$work/recv" | cut -d' ' -f1)
[ "$sent" = "$got" ] || die "data corrupted: sent sha256 $sent, received $got ($(stat -c %s "$work/recv") bytes)"
awk -v a="$t0" -v b="$t1" 'BEGIN { s = b - a; printf "   50000000 bytes verified (sha256 match) in %.2f s: %.0f Mbit/s\n", s, 50000000 * 8 / s / 1e6 }'

echo "== vsctl show"
vsctl show
echo "== vsctl fdb/show $br"
vsctl fdb/show "$br"
