#!/bin/bash
# build-sriov-guest.sh [CACHE]   (default CACHE: /var/tmp/vswitch-guest)
#
# Builds the base of the SR-IOV test guest (booted by test/sriov_test.go
# under QEMU >= 10 with an emulated Intel 82576, QEMU's "igb", which has
# SR-IOV) from Debian packages only, and prints its directory on the last
# line of stdout:
#   DIR/vmlinux            the kernel, uncompressed (PVH ELF)
#   DIR/initramfs.cpio.gz  busybox-static, /init and the modules: igb (PF),
#                          igbvf (VF), veth and tun, with what they need
#   DIR/version            what it was built from
# The test appends a second gzip'd cpio with the static vswitchd, vsctl and
# helpers it just built (the kernel unpacks concatenated archives), so this
# part is rebuilt only when the packages or these scripts change.
# Same approach as build-guest.sh: apt-get download + dpkg-deb -x, never
# installed; needs cpio, kmod (depmod) and xz-utils.
set -euo pipefail
CACHE=${1:-/var/tmp/vswitch-guest}
HERE=$(cd "$(dirname "$0")" && pwd)

for tool in apt-cache apt-get dpkg-deb cpio depmod xz gzip; do
	command -v "$tool" >/dev/null || { echo "build-sriov-guest: $tool not installed (apt-get install cpio kmod xz-utils)" >&2; exit 3; }
done

resolve_pkgs() {
	read -r KPKG KVERS BVERS < <(apt-cache -o APT::Cache::AllVersions=0 show linux-image-amd64 busybox-static 2>/dev/null | awk '
		/^Package: /{p=$2}
		p=="linux-image-amd64" && /^Depends: /{
			if (match($0, /linux-image-[0-9][^ ,]* \(= [^)]*\)/)) {split(substr($0, RSTART, RLENGTH), a, /[ ()=]+/); k=a[1]; kv=a[2]}
		}
		p=="busybox-static" && /^Version: /{bv=$2}
		END{print k, kv, bv}') || true
}
LISTS=$(stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* 2>/dev/null | sha256sum | cut -c1-16)
RESOLVED=$CACHE/.sriov-resolved-$LISTS
if [ -s "$RESOLVED" ]; then
	read -r KPKG KVERS BVERS <"$RESOLVED"
else
	resolve_pkgs
	if [ -z "${KVERS:-}" ] && [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		resolve_pkgs
	fi
	if [ -n "${BVERS:-}" ]; then
		mkdir -p "$CACHE"
		rm -f "$CACHE"/.sriov-resolved-*
		echo "$KPKG $KVERS $BVERS" >"$RESOLVED"
	fi
fi
[ -n "${KPKG:-}" ] && [ -n "${KVERS:-}" ] && [ -n "${BVERS:-}" ] ||
	{ echo "build-sriov-guest: cannot resolve linux-image-amd64 / busybox-static (apt-get update?)" >&2; exit 3; }
STAMP=$(cat "$0" "$HERE/sriov-guest-init.sh" | sha256sum | cut -c1-12)
KEY=sriov_$(printf '%s_%s_busybox_%s_%s' "$KPKG" "$KVERS" "$BVERS" "$STAMP" | tr -c 'A-Za-z0-9._\n-' '_')
OUT=$CACHE/$KEY
if [ -s "$OUT/vmlinux" ] && [ -s "$OUT/initramfs.cpio.gz" ] && [ -s "$OUT/version" ]; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$CACHE"
W=$(mktemp -d "$CACHE/.build-XXXXXX")
chmod 755 "$W"
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/deb" "$W/x" "$W/root" "$W/out"
chmod 777 "$W/deb"
(cd "$W/deb" && apt-get download -q "$KPKG=$KVERS" "busybox-static=$BVERS" >/dev/null)
for d in "$W"/deb/*.deb; do dpkg-deb -x "$d" "$W/x"; done
KVER=$(ls "$W/x/lib/modules" | head -1)
depmod -b "$W/x" "$KVER"
DEP=$W/x/lib/modules/$KVER/modules.dep
# igb needs dca and i2c-algo-bit (ptp, pps, hwmon are built in); igbvf,
# veth and tun need nothing else in Debian's config.
declare -A seen
ORDER=()
resolve() {
	local m=$1 d
	[ -n "${seen[$m]:-}" ] && return
	seen[$m]=1
	for d in $(awk -F': *' -v m="$m" '$1==m{print $2}' "$DEP"); do resolve "$d"; done
	ORDER+=("$m")
}
for name in igb igbvf veth tun; do
	p=$(awk -F: -v n="/$name.ko" 'index($1,n)==length($1)-length(n)+1{print $1; exit}' "$DEP")
	[ -n "$p" ] || { echo "build-sriov-guest: module $name not in $KPKG" >&2; exit 3; }
	resolve "$p"
done

R=$W/root
mkdir -p "$R"/{bin,dev,proc,sys,tmp,etc,run,var/run,lib/modules}
cp "$W/x/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3
for m in "${ORDER[@]}"; do
	mkdir -p "$R/lib/modules/$(dirname "$m")"
	cp "$W/x/lib/modules/$KVER/$m" "$R/lib/modules/$m"
done
printf '%s\n' "${ORDER[@]}" >"$R/etc/modules.load"
install -m 755 "$HERE/sriov-guest-init.sh" "$R/init"
(cd "$R" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -6 >"$W/out/initramfs.cpio.gz"

K=$W/x/boot/vmlinuz-$KVER
setup=$(od -An -tu1 -j $((0x1f1)) -N1 "$K" | tr -d ' ')
poff=$(od -An -tu4 -j $((0x248)) -N4 "$K" | tr -d ' ')
plen=$(od -An -tu4 -j $((0x24c)) -N4 "$K" | tr -d ' ')
dd if="$K" iflag=skip_bytes,count_bytes skip=$(((setup + 1) * 512 + poff)) count="$plen" bs=1M status=none |
	xz -dc --single-stream >"$W/out/vmlinux"
echo "kernel $KVER ($KPKG $KVERS) busybox-static $BVERS modules: ${ORDER[*]}" >"$W/out/version"
if ! mv -T "$W/out" "$OUT" 2>/dev/null; then
	[ -s "$OUT/version" ] || { echo "build-sriov-guest: cannot publish $OUT" >&2; exit 1; }
fi
echo "built $(cat "$OUT/version")" >&2
for d in "$CACHE"/sriov_linux-image-*; do [ "$d" = "$OUT" ] || rm -rf "$d"; done
echo "$OUT"
