#!/bin/bash
# Wake-up latency of a parked PMD (run as root after `make build`): the round trip
# of the first ping after 1.5 s of idle (the PMD parked on epoll) against pings
# inside a 2 ms-interval stream (the PMD awake), 15 samples each. The difference
# bounds what parking costs the first packet; PMD_POLL=always (no parking) is
# the control: the same idle gap, with the PMD busy-polling throughout.
set -u
B=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}
D=$(mktemp -d /tmp/vswake-XXXXXX)
ip netns del wa 2>/dev/null; ip netns del wb 2>/dev/null
$B/vswitchd --db $D/db/conf.db --run-dir $D/run --pmd-cores 1 --mem 64M --pmd-poll ${PMD_POLL:-auto} > $D/log 2>&1 &
sleep 1
export VSWITCH_SERVER=$D/run/vswitchd.sock
$B/vsctl add-br wbr
for n in a b; do
  ip netns add w$n; ip link add wv$n type veth peer name eth0 netns w$n
  ip link set wv$n up; ip -n w$n link set eth0 up
  $B/vsctl add-port wbr wv$n
done
ip -n wa addr add 10.66.0.1/24 dev eth0; ip -n wb addr add 10.66.0.2/24 dev eth0
ip netns exec wa ping -c 3 -i 0.2 10.66.0.2 > /dev/null
idle=(); busy=()
for i in $(seq 1 15); do
  sleep 1.5
  idle+=($(ip netns exec wa ping -c 1 10.66.0.2 | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p'))
  busy+=($(ip netns exec wa ping -c 20 -i 0.002 10.66.0.2 | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | tail -1))
done
echo "first ping after 1.5 s idle (ms): ${idle[*]}"
echo "ping inside a 2 ms-interval stream (ms): ${busy[*]}"
$B/vsctl pmd-stats-show | grep -E 'parks|idle time|busy time'
pkill -f "vswitchd --db $D/db"; ip netns del wa; ip netns del wb; ip link del wva 2>/dev/null; ip link del wvb 2>/dev/null
rm -rf "$D"
