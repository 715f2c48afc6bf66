#!/bin/bash
# build-guest.sh [CACHE]   (default CACHE: /var/tmp/vswitch-guest)
#
# Builds the tiny x86_64 guest the VM end-to-end tests boot, from Debian
# packages only, and prints its directory on the last line of stdout:
#   DIR/vmlinux            the kernel, uncompressed (PVH ELF: QEMU boots it
#                          directly, which halves a TCG boot)
#   DIR/vmlinuz            the same kernel as shipped (bzImage)
#   DIR/initramfs.cpio.gz  busybox-static, the virtio-net modules and /init
#   DIR/version            what it was built from
# The kernel is whatever linux-image-amd64 depends on today (looked up with
# apt-cache, never pinned: old ABIs leave the archive). DIR is keyed by the
# package versions and a hash of this script and guest-init.sh, so a re-run
# with nothing changed only asks apt-cache and returns (~0.1 s).
# The packages are downloaded (apt-get download) and unpacked (dpkg-deb -x),
# never installed; cpio, kmod (depmod) and xz-utils must be present.
set -euo pipefail
CACHE=${1:-/var/tmp/vswitch-guest}
HERE=$(cd "$(dirname "$0")" && pwd)

for tool in apt-cache apt-get dpkg-deb cpio depmod xz gzip; do
	command -v "$tool" >/dev/null || { echo "build-guest: $tool not installed (apt-get install cpio kmod xz-utils)" >&2; exit 3; }
done

# linux-image-amd64 is a metapackage: the image it depends on (with an exact
# version) is the kernel. apt-cache takes about a second here (no pkgcache),
# so the answer is remembered until the archive indexes change.
LISTS=$(stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* 2>/dev/null | sha256sum | cut -c1-16)
RESOLVED=$CACHE/.resolved-$LISTS
if [ -s "$RESOLVED" ]; then
	read -r KPKG KVERS BVERS <"$RESOLVED"
else
	resolve() {
		read -r KPKG KVERS BVERS < <(apt-cache -o APT::Cache::AllVersions=0 show linux-image-amd64 busybox-static 2>/dev/null | awk '
			/^Package: /{p=$2}
			p=="linux-image-amd64" && /^Depends: /{
				if (match($0, /linux-image-[0-9][^ ,]* \(= [^)]*\)/)) {split(substr($0, RSTART, RLENGTH), a, /[ ()=]+/); k=a[1]; kv=a[2]}
			}
			p=="busybox-static" && /^Version: /{bv=$2}
			END{print k, kv, bv}') || true
	}
	resolve
	# A fresh machine may have no package lists yet: fetch them once.
	if [ -z "${KVERS:-}" ] && [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		resolve
	fi
	if [ -n "${BVERS:-}" ]; then
		mkdir -p "$CACHE"
		rm -f "$CACHE"/.resolved-*
		echo "$KPKG $KVERS $BVERS" >"$RESOLVED"
	fi
fi
[ -n "${KPKG:-}" ] && [ -n "${KVERS:-}" ] || { echo "build-guest: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 3; }
[ -n "${BVERS:-}" ] || { echo "build-guest: cannot resolve busybox-static (apt-get update?)" >&2; exit 3; }
STAMP=$(cat "$0" "$HERE/guest-init.sh" | sha256sum | cut -c1-12)
KEY=$(printf '%s_%s_busybox_%s_%s' "$KPKG" "$KVERS" "$BVERS" "$STAMP" | tr -c 'A-Za-z0-9._\n-' '_')
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
chmod 777 "$W/deb" # apt's _apt user downloads into it (no "unsandboxed" warning)
(cd "$W/deb" && apt-get download -q "$KPKG=$KVERS" "busybox-static=$BVERS" >/dev/null)
for d in "$W"/deb/*.deb; do dpkg-deb -x "$d" "$W/x"; done
KVER=$(ls "$W/x/lib/modules" | head -1)

# The .deb carries no modules.dep (depmod runs at install time).
depmod -b "$W/x" "$KVER"
DEP=$W/x/lib/modules/$KVER/modules.dep
# Load order, dependencies first: virtio, virtio_ring, virtio_pci (+ its
# legacy/modern helpers), failover, net_failover, virtio_net are modules in
# Debian's config; a built-in one is simply absent from modules.dep.
declare -A seen
ORDER=()
resolve() {
	local m=$1 d
	[ -n "${seen[$m]:-}" ] && return
	seen[$m]=1
	for d in $(awk -F': *' -v m="$m" '$1==m{print $2}' "$DEP"); do resolve "$d"; done
	ORDER+=("$m")
}
for name in virtio_pci virtio_net; do
	p=$(awk -F: -v n="/$name.ko" 'index($1,n)==length($1)-length(n)+1{print $1; exit}' "$DEP")
	[ -z "$p" ] || resolve "$p"
done

R=$W/root
mkdir -p "$R"/{bin,dev,proc,sys,tmp,etc,lib/modules}
cp "$W/x/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
mknod -m 600 "$R/dev/console" c 5 1 # the kernel opens it before /init runs
mknod -m 666 "$R/dev/null" c 1 3
for m in "${ORDER[@]}"; do
	mkdir -p "$R/lib/modules/$(dirname "$m")"
	cp "$W/x/lib/modules/$KVER/$m" "$R/lib/modules/$m"
done
printf '%s\n' "${ORDER[@]}" >"$R/etc/modules.load"
install -m 755 "$HERE/guest-init.sh" "$R/init"
(cd "$R" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -6 >"$W/out/initramfs.cpio.gz"

cp "$W/x/boot/vmlinuz-$KVER" "$W/out/vmlinuz"
# The bzImage's payload is XZ: unpack it into the plain ELF (bzImage header:
# setup_sects at 0x1f1, payload_offset at 0x248, payload_length at 0x24c).
K=$W/out/vmlinuz
setup=$(od -An -tu1 -j $((0x1f1)) -N1 "$K" | tr -d ' ')
poff=$(od -An -tu4 -j $((0x248)) -N4 "$K" | tr -d ' ')
plen=$(od -An -tu4 -j $((0x24c)) -N4 "$K" | tr -d ' ')
dd if="$K" iflag=skip_bytes,count_bytes skip=$(((setup + 1) * 512 + poff)) count="$plen" bs=1M status=none |
	xz -dc --single-stream >"$W/out/vmlinux"
echo "kernel $KVER ($KPKG $KVERS) busybox-static $BVERS modules: ${ORDER[*]}" >"$W/out/version"

# Publish atomically; a concurrent build that won the race is just as good.
if ! mv -T "$W/out" "$OUT" 2>/dev/null; then
	[ -s "$OUT/version" ] || { echo "build-guest: cannot publish $OUT" >&2; exit 1; }
fi
echo "built $(cat "$OUT/version")" >&2
# Older builds (superseded packages or scripts) are 75 MB each: drop them.
for d in "$CACHE"/linux-image-*; do [ "$d" = "$OUT" ] || rm -rf "$d"; done
echo "$OUT"
