#!/bin/sh
# cni-sriov-e2e PF: vswitch-cni's sriov mode inside the igb guest
# (test/cni_sriov_test.go installs it as /bin/cni-sriov-e2e with a static
# vswitch-cni). The runtime's part is played by hand, as the CNI spec
# defines it: CNI_* variables and the network config on stdin; the pods
# are `unshare -n` processes, CNI_NETNS=/proc/PID/ns/net. Output lines
# carry CNI- prefixes; the host test asserts on them.
set -u
PF=${1:-eth0}
say() { sed "s/^/$1 /"; }
vfline() { sriovtool show "$PF" | grep "^SRIOV-VF vf=$1 "; }
cni() { # cni CMD PID IFNAME CONFIG
	printf '%s' "$4" | CNI_COMMAND=$1 CNI_CONTAINERID=pod$2 CNI_NETNS=/proc/$2/ns/net CNI_IFNAME=$3 CNI_PATH=/bin vswitch-cni
}
conf() { # conf MAC TRUST
	echo '{"cniVersion":"1.1.0","name":"vfnet","type":"vswitch-cni","mode":"sriov","pf":"'"$PF"'","mtu":1400,"spoofchk":true,"trust":'"$2"',"runtimeConfig":{"mac":"'"$1"'"}}'
}

ip link set "$PF" up
sriovtool numvfs "$PF" 2 | say CNI-NUMVFS
sriovtool show "$PF" | say CNI-SHOW0
unshare -n sleep 100000 &
PA=$!
unshare -n sleep 100000 &
PB=$!
sleep 0.3

CA=$(conf 02:00:00:00:0a:01 true)
CB=$(conf 02:00:00:00:0a:02 false)
cni ADD "$PA" net1 "$CA" | tr -d '\n ' | say CNI-ADD-A
echo
cni ADD "$PB" net1 "$CB" | tr -d '\n ' | say CNI-ADD-B
echo
sriovtool show "$PF" | say CNI-SHOW1
nsenter -t "$PA" -n ip -o link show net1 | say CNI-LINK-A
nsenter -t "$PB" -n ip -o link show net1 | say CNI-LINK-B
nsenter -t "$PA" -n sh -c "ip link set lo up; ip addr add 10.9.1.1/24 dev net1"
nsenter -t "$PB" -n sh -c "ip link set lo up; ip addr add 10.9.1.2/24 dev net1"
sleep 1
nsenter -t "$PA" -n ping -c 5 -W 2 10.9.1.2 >/tmp/ping.out 2>&1
echo "CNI-PING rc=$? $(grep 'packets transmitted' /tmp/ping.out)"
PREV=$(cni ADD "$PA" net9 "$(conf 02:00:00:00:0a:09 false)" 2>&1 | tr -d '\n ')
echo "CNI-THIRD $(echo "$PREV" | grep -o '{"code".*')"
cni CHECK "$PA" net1 "$(echo "$CA" | sed 's/}$/,"prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"net1"}]}}/')"
echo "CNI-CHECK rc=$?"

cni DEL "$PA" net1 "$CA"
echo "CNI-DEL a rc=$?"
kill "$PB"
sleep 0.5
cni DEL "$PB" net1 "$CB"
echo "CNI-DEL b-gone-netns rc=$?"
cni DEL "$PA" net1 "$CA"
echo "CNI-DEL a-again rc=$?"
sriovtool show "$PF" | say CNI-SHOW2
echo "CNI-NETDEVS $(ls /sys/class/net | tr '\n' ,)"
ls /run/vswitch-cni/sriov | say CNI-STATE
kill "$PA"
echo "CNI-DONE"
