#!/bin/sh
# sriov-e2e PF: the SR-IOV end-to-end scenario, run inside the igb guest
# (test/sriov_test.go installs it as /bin/sriov-e2e next to the static
# vswitchd, vsctl, nettool and sriovtool). It prints the raw outputs with
# E2E- prefixes; the host test asserts on them (and on the wire pcap).
#   namespace A on VF 2's netdev (10.9.0.1) -- igb e-switch -- VF 1 =
#   port vf1 of br0 -- veth vswb/b0 -- namespace B (10.9.0.2)
set -u
PF=${1:-eth0}
say() { sed "s/^/$1 /"; }
vfline() { sriovtool show "$PF" | grep "^SRIOV-VF vf=$1 "; }
vfdev() { vfline "$1" | sed -n 's/.* netdev=\([^ ]*\) .*/\1/p'; }
start_vswitchd() {
	vswitchd --mem 64M --log-file /tmp/vswitchd.log &
	VPID=$!
	i=0
	while ! vsctl show >/dev/null 2>&1; do
		sleep 0.2
		i=$((i + 1))
		if [ $i -gt 150 ]; then echo "E2E-FATAL vswitchd did not start"; say E2E-LOG </tmp/vswitchd.log; exit 1; fi
	done
	echo "E2E-VSWITCHD up pid=$VPID"
}
stop_vswitchd() { kill "$VPID"; wait "$VPID"; echo "E2E-VSWITCHD stopped rc=$?"; }
pingab() { # pingab LABEL: 5 pings A -> B
	nsenter -t "$PA" -n ping -c 5 -W 2 10.9.0.2 >/tmp/ping.out 2>&1
	echo "E2E-PING $1 rc=$? $(grep 'packets transmitted' /tmp/ping.out)"
}
snapshot() { echo "ports=$(vsctl list-ports br0 | tr '\n' ,) vfs=$(sriovtool show "$PF" | md5sum | cut -c1-12)"; }
bad() { # bad LABEL vsctl-args...: must fail and change nothing
	label=$1
	shift
	before=$(snapshot)
	out=$(vsctl "$@" 2>&1)
	rc=$?
	after=$(snapshot)
	same=no
	[ "$before" = "$after" ] && same=yes
	echo "E2E-BAD $label rc=$rc unchanged=$same err=$(echo "$out" | head -1)"
}

mkdir -p /var/lib/vswitch /run/vswitch
sriovtool numvfs "$PF" 4 | say E2E-NUMVFS
sriovtool show "$PF" | say E2E-SHOW0
sriovtool record | say E2E-RECORD
start_vswitchd
vsctl add-br br0

# Namespaces A and B (busybox: unshare + nsenter, no `ip netns`).
unshare -n sleep 100000 &
PA=$!
unshare -n sleep 100000 &
PB=$!
sleep 0.3
VF2=$(vfdev 2)
ip link set "$VF2" netns "$PA"
nsenter -t "$PA" -n sh -c "ip link set lo up; ip link set $VF2 up; ip addr add 10.9.0.1/24 dev $VF2"
sriovtool veth vswb b0
ip link set b0 netns "$PB"
nsenter -t "$PB" -n sh -c "ip link set lo up; ip link set b0 up; ip addr add 10.9.0.2/24 dev b0"
# (sysfs shows the root namespace's devices: ask ip inside the namespace)
mac_in() { nsenter -t "$1" -n ip link show "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
echo "E2E-A netdev=$VF2 mac=$(mac_in "$PA" "$VF2")"
echo "E2E-B mac=$(mac_in "$PB" b0)"

vsctl add-port br0 vswb
vsctl add-port br0 vf1 -- set Interface vf1 type=sriov-vf options:pf="$PF" options:vf=1 options:mac=02:00:00:00:01:01
echo "E2E-ADD vf1 rc=$?"
vsctl show | say E2E-SHOW1
vfline 1 | say E2E-VF1

# Traffic A <-> B across the NIC's embedded switch and ours.
pingab first
nsenter -t "$PB" -n ping -c 3 -W 2 10.9.0.1 >/tmp/ping.out 2>&1
echo "E2E-PING b2a rc=$? $(grep 'packets transmitted' /tmp/ping.out)"
nsenter -t "$PB" -n nettool sink -listen 10.9.0.2:5001 -timeout 90s >/tmp/sink.out 2>&1 &
SINK=$!
i=0
while ! grep -q listening /tmp/sink.out && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
nsenter -t "$PA" -n nettool source -connect 10.9.0.2:5001 -bytes 2000000 -seed 9 2>&1 | say E2E-TCP-SOURCE
wait $SINK
say E2E-TCP-SINK </tmp/sink.out
vsctl show | say E2E-SHOW2
vsctl dump-ports br0 | say E2E-DUMP
vsctl fdb/show br0 | say E2E-FDB
sriovtool filters "$(vfdev 1)" | say E2E-FILTERS
vsctl sriov/show 2>&1 | say E2E-SRIOVSHOW

# Overflow: igbvf holds 3 unicast filters. Three more hosts (veths in B's
# namespace, each a port) announce themselves: VF 1 would need 4.
for i in 1 2 3; do
	sriovtool veth "vswc$i" "c$i"
	ip link set "c$i" netns "$PB"
	nsenter -t "$PB" -n sh -c "ip link set c$i up; ip addr add 10.9.0.$((10 + i))/32 dev c$i"
	vsctl add-port br0 "vswc$i"
done
for i in 1 2 3; do nsenter -t "$PB" -n arping -c 1 -w 2 -I "c$i" 10.9.0.1 >/dev/null 2>&1; done
i=0
while ! vsctl show | grep -q 'sriov_filter_overflow="[1-9]' && [ $i -lt 25 ]; do sleep 0.2; i=$((i + 1)); done
vsctl show | grep -A6 'Interface vf1' | grep status | say E2E-OVERFLOW
sriovtool filters "$(vfdev 1)" | say E2E-FILTERS4
vsctl fdb/show br0 | say E2E-FDB4
for i in 1 2 3; do vsctl del-port br0 "vswc$i"; done

# VF settings through vsctl, read back through rtnetlink; delete resets.
vsctl add-port br0 vf3 -- set Interface vf3 type=sriov-vf options:pf="$PF" options:vf=3 \
	options:mac=02:00:00:00:03:03 options:vlan=42 options:trust=false options:spoofchk=true
echo "E2E-ADD vf3 rc=$?"
vfline 3 | say E2E-VF3-SET
vsctl del-port br0 vf3
echo "E2E-DEL vf3 rc=$?"
vfline 3 | say E2E-VF3-DEL

# igb has no VF link-state control: the port says so.
vsctl add-port br0 vf0 -- set Interface vf0 type=sriov-vf options:pf="$PF" options:vf=0 options:link_state=disable
vsctl show | grep -A8 'Port vf0' | say E2E-LINKSTATE
vsctl del-port br0 vf0

# Bad input: refused, nothing changed.
bad notsriov add-port br0 bad1 -- set Interface bad1 type=sriov-vf options:pf=vswb options:vf=0
bad nopf add-port br0 bad1 -- set Interface bad1 type=sriov-vf options:pf=nosuchdev options:vf=0
bad vfrange add-port br0 bad1 -- set Interface bad1 type=sriov-vf options:pf="$PF" options:vf=9
bad inuse add-port br0 bad1 -- set Interface bad1 type=sriov-vf options:pf="$PF" options:vf=1
bad badmac add-port br0 bad1 -- set Interface bad1 type=sriov-vf options:pf="$PF" options:vf=0 options:mac=02:00:zz:00:00:01
bad vlan4096 add-port br0 bad1 -- set Interface bad1 type=sriov-vf options:pf="$PF" options:vf=0 options:vlan=4096

# Restart: change VF 1 behind the switch's back; the switch re-applies and reports drift.
stop_vswitchd
sriovtool set "$PF" 1 trust=off spoofchk=on | say E2E-BEHIND
vfline 1 | say E2E-VF1-BEHIND
start_vswitchd
i=0
while ! vsctl show | grep -q sriov_drift && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
vsctl show | say E2E-SHOW3
vfline 1 | say E2E-VF1-RESTART
pingab restart

# The port holding VF 1 may change its own options (reopened on the same
# VF); an option removed puts its setting back to the default.
vsctl set Interface vf1 options:vlan=5
echo "E2E-SET vf1 rc=$? error=$(vsctl show | grep -A12 'Port vf1' | grep -c 'error:')"
vfline 1 | say E2E-VF1-VLAN5
vsctl remove Interface vf1 options vlan
echo "E2E-REMOVE vf1 rc=$?"
vfline 1 | say E2E-VF1-NOVLAN

vsctl del-port br0 vf1
echo "E2E-DEL vf1 rc=$?"
vfline 1 | say E2E-VF1-DEL
stop_vswitchd
grep -i 'sriov\|error' /tmp/vswitchd.log | tail -40 | say E2E-LOG
kill "$PA" "$PB"
wait "$PA" "$PB" 2>/dev/null
# Remove the VFs (none is in use now) so the guest powers off cleanly.
sriovtool numvfs "$PF" 0 | say E2E-NUMVFS-END
echo "E2E-DONE"
