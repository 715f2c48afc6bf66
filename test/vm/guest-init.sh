#!/bin/sh
# /init of the vswitch test guest (build-guest.sh copies it into the
# initramfs). Busybox only. It reads, from the kernel command line (names
# without dots, so the kernel hands them to init untouched):
#   vsw_ip=10.0.0.1/24   address of eth0, the virtio-net NIC on vhost-user
#   vsw_run=<base64>     shell command to run once eth0 is up
# and prints, on the serial console, lines the host test parses:
#   GUEST-READY ip=... uptime=... features=...   eth0 is up
#   (the command's own output, helpers below print *-RESULT lines)
#   GUEST-EXIT rc=N uptime=...                   then it powers off
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
up() { cut -d' ' -f1 /proc/uptime; }

for m in $(cat /etc/modules.load); do
	insmod "/lib/modules/$m" || echo "GUEST-WARN insmod $m failed"
done

IP=
RUN=true
for a in $(cat /proc/cmdline); do
	case $a in
	vsw_ip=*) IP=${a#vsw_ip=} ;;
	vsw_run=*) RUN=$(echo "${a#vsw_run=}" | base64 -d) ;;
	esac
done

# Helpers for vsw_run.
cat >/bin/waitping <<'EOF'
#!/bin/sh
# waitping IP [SECS]: wait until IP answers a ping (the peer may still be booting).
t=0
while [ $t -lt "${2:-60}" ]; do
	ping -c1 -W1 "$1" >/dev/null 2>&1 && exit 0
	t=$((t+1))
done
echo "WAITPING-TIMEOUT $1"
exit 1
EOF
cat >/bin/pingc <<'EOF'
#!/bin/sh
# pingc IP [COUNT]: ping COUNT times, print PING-RESULT sent=N recv=M.
o=$(ping -c "${2:-5}" -i 0.2 "$1" 2>&1); rc=$?
echo "$o"
s=$(echo "$o" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) packets received.*/sent=\1 recv=\2/p')
echo "PING-RESULT dst=$1 $s rc=$rc"
exit $rc
EOF
cat >/bin/pinger <<'EOF'
#!/bin/sh
# pinger IP: ping IP forever, one line per probe (the host timestamps them).
n=0
while :; do
	n=$((n+1))
	if ping -c1 -W1 "$1" >/dev/null 2>&1; then
		echo "PINGER ok $n"
		sleep 0.2
	else
		echo "PINGER miss $n"
	fi
done
EOF
cat >/bin/rx <<'EOF'
#!/bin/sh
# rx PORT: receive one TCP stream, print RX-RESULT bytes=N sha256=HEX.
# nc's stdin must not reach EOF (busybox nc then half-closes the socket
# and the sender stops early): the console never does.
echo "RX-LISTEN port=$1"
nc -l -p "$1" </dev/console >/tmp/rx.bin
rc=$?
echo "RX-RESULT bytes=$(wc -c </tmp/rx.bin) sha256=$(sha256sum </tmp/rx.bin | cut -d' ' -f1) rc=$rc"
rm -f /tmp/rx.bin
exit $rc
EOF
cat >/bin/tx <<'EOF'
#!/bin/sh
# tx IP PORT MiB: send MiB MiB of random bytes over TCP, print
# TX-RESULT bytes=N sha256=HEX secs=S rc=R. A refused connection (the
# receiver is not listening yet) is retried for 30 s.
dd if=/dev/urandom of=/tmp/tx.bin bs=1048576 count="$3" 2>/dev/null
sum=$(sha256sum </tmp/tx.bin | cut -d' ' -f1)
i=0
while :; do
	t0=$(cut -d' ' -f1 /proc/uptime)
	nc "$1" "$2" </tmp/tx.bin; rc=$?
	[ $rc -eq 0 ] || [ $i -ge 30 ] && break
	i=$((i+1)); sleep 1
done
t1=$(cut -d' ' -f1 /proc/uptime)
echo "TX-RESULT bytes=$(wc -c </tmp/tx.bin) sha256=$sum secs=$(echo "$t0 $t1" | awk '{printf "%.2f", $2-$1}') rc=$rc"
rm -f /tmp/tx.bin
exit $rc
EOF
chmod 755 /bin/waitping /bin/pingc /bin/pinger /bin/rx /bin/tx

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ip link set lo up
ip addr add "$IP" dev eth0 && ip link set eth0 up
echo "GUEST-READY ip=$IP uptime=$(up) mac=$(cat /sys/class/net/eth0/address) features=$(cat /sys/class/net/eth0/device/features 2>/dev/null)"
sh -c "$RUN"
rc=$?
echo "GUEST-EXIT rc=$rc uptime=$(up)"
poweroff -f
