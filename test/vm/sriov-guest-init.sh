#!/bin/sh
# /init of the SR-IOV test guest (build-sriov-guest.sh). Busybox only.
# Kernel parameter (no dots, so the kernel hands it to init):
#   vsw_run=<base64>   shell command to run
# Console: "GUEST-READY ...", the command's output, "GUEST-EXIT rc=N ...",
# then poweroff. The test's overlay archive adds /bin/vswitchd, vsctl, ...
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
up() { cut -d' ' -f1 /proc/uptime; }
for m in $(cat /etc/modules.load); do
	insmod "/lib/modules/$m" || echo "GUEST-WARN insmod $m failed"
done
RUN=true
for a in $(cat /proc/cmdline); do
	case $a in vsw_run=*) RUN=$(echo "${a#vsw_run=}" | base64 -d) ;; esac
done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ip link set lo up
echo "GUEST-READY uptime=$(up) kernel=$(uname -r) netdevs=$(ls /sys/class/net | tr '\n' ,)"
sh -c "$RUN"
rc=$?
echo "GUEST-EXIT rc=$rc uptime=$(up)"
poweroff -f
