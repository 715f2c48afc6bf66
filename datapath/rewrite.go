package datapath

import (
	"encoding/binary"
	"hash/crc32"
)

// Header rewrites for set-field actions. Checksums are updated
// incrementally (RFC 1624) so a rewrite costs the same for any packet size.

// l3 finds the network header behind up to two VLAN tags.
func l3(d []byte) (ethType uint16, off int, ok bool) {
	if len(d) < 14 {
		return 0, 0, false
	}
	off = 12
	t := binary.BigEndian.Uint16(d[off:])
	for i := 0; i < 2 && isVLANType(t); i++ {
		off += 4
		if len(d) < off+2 {
			return 0, 0, false
		}
		t = binary.BigEndian.Uint16(d[off:])
	}
	return t, off + 2, true
}

// csumAdjust updates checksum field sum for a 16-bit word changing from old to new.
func csumAdjust(sum, old, new uint16) uint16 {
	s := uint32(^sum) + uint32(^old) + uint32(new)
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}

// csumAdjustBytes adjusts sum for bytes old -> new (even length, aligned).
func csumAdjustBytes(sum uint16, old, new []byte) uint16 {
	for i := 0; i+1 < len(old); i += 2 {
		sum = csumAdjust(sum, binary.BigEndian.Uint16(old[i:]), binary.BigEndian.Uint16(new[i:]))
	}
	return sum
}

// l4 returns the transport header of an unfragmented IPv4/IPv6 packet and
// its protocol (0 if none).
func l4(d []byte, ethType uint16, off int) (proto uint8, l4off int) {
	switch ethType {
	case 0x0800:
		if len(d) < off+20 {
			return 0, 0
		}
		ihl := int(d[off]&0x0f) * 4
		if ihl < 20 || len(d) < off+ihl || binary.BigEndian.Uint16(d[off+6:])&0x3fff != 0 {
			return 0, 0
		}
		return d[off+9], off + ihl
	case 0x86dd:
		if len(d) < off+40 {
			return 0, 0
		}
		return d[off+6], off + 40 // extension headers: no L4 rewrite
	}
	return 0, 0
}

// l4Csum returns the offset of the TCP/UDP checksum, or -1.
func l4Csum(d []byte, proto uint8, l4off int) int {
	switch {
	case proto == 6 && len(d) >= l4off+20:
		return l4off + 16
	case proto == 17 && len(d) >= l4off+8:
		if binary.BigEndian.Uint16(d[l4off+6:]) == 0 {
			return -1 // UDP without checksum stays without
		}
		return l4off + 6
	}
	return -1
}

func setL3L4(a *Action, d []byte) bool {
	ethType, off, ok := l3(d)
	if !ok {
		return false
	}
	switch a.Kind {
	case ActSetIPv4Src, ActSetIPv4Dst, ActSetIPv4Tos, ActSetIPv4TTL:
		if ethType != 0x0800 || len(d) < off+20 {
			return false
		}
		ip := d[off:]
		switch a.Kind {
		case ActSetIPv4Tos, ActSetIPv4TTL:
			i := 1
			if a.Kind == ActSetIPv4TTL {
				i = 8
			}
			old := binary.BigEndian.Uint16(ip[i&^1:])
			ip[i] = byte(a.Arg)
			binary.BigEndian.PutUint16(ip[10:], csumAdjust(binary.BigEndian.Uint16(ip[10:]), old, binary.BigEndian.Uint16(ip[i&^1:])))
			return true
		}
		at := 12
		if a.Kind == ActSetIPv4Dst {
			at = 16
		}
		var nw [4]byte
		binary.BigEndian.PutUint32(nw[:], uint32(a.Arg))
		proto, l4off := l4(d, ethType, off)
		if c := l4Csum(d, proto, l4off); c >= 0 {
			binary.BigEndian.PutUint16(d[c:], csumAdjustBytes(binary.BigEndian.Uint16(d[c:]), ip[at:at+4], nw[:]))
		}
		binary.BigEndian.PutUint16(ip[10:], csumAdjustBytes(binary.BigEndian.Uint16(ip[10:]), ip[at:at+4], nw[:]))
		copy(ip[at:], nw[:])
		return true
	case ActSetIPv6Src, ActSetIPv6Dst, ActSetIPv6TC, ActSetIPv6HopLimit:
		if ethType != 0x86dd || len(d) < off+40 {
			return false
		}
		ip := d[off:]
		switch a.Kind {
		case ActSetIPv6HopLimit:
			ip[7] = byte(a.Arg)
			return true
		case ActSetIPv6TC:
			v := binary.BigEndian.Uint32(ip)
			v = v&^0x0ff00000 | uint32(a.Arg&0xff)<<20
			binary.BigEndian.PutUint32(ip, v)
			return true
		}
		at := 8
		if a.Kind == ActSetIPv6Dst {
			at = 24
		}
		var nw [16]byte
		binary.BigEndian.PutUint64(nw[:8], a.Arg)
		binary.BigEndian.PutUint64(nw[8:], a.Arg2)
		proto, l4off := l4(d, ethType, off)
		if c := l4Csum(d, proto, l4off); c >= 0 {
			binary.BigEndian.PutUint16(d[c:], csumAdjustBytes(binary.BigEndian.Uint16(d[c:]), ip[at:at+16], nw[:]))
		}
		copy(ip[at:], nw[:])
		return true
	case ActSetTPSrc, ActSetTPDst:
		proto, l4off := l4(d, ethType, off)
		if (proto != 6 && proto != 17 && proto != 132) || len(d) < l4off+8 {
			return false
		}
		at := l4off
		if a.Kind == ActSetTPDst {
			at += 2
		}
		old := binary.BigEndian.Uint16(d[at:])
		binary.BigEndian.PutUint16(d[at:], uint16(a.Arg))
		if proto == 132 {
			sctpCRC(d[l4off:])
		} else if c := l4Csum(d, proto, l4off); c >= 0 {
			binary.BigEndian.PutUint16(d[c:], csumAdjust(binary.BigEndian.Uint16(d[c:]), old, uint16(a.Arg)))
		}
		return true
	}
	return false
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sctpCRC recomputes an SCTP packet's CRC32c over the whole packet.
func sctpCRC(s []byte) {
	if len(s) < 12 {
		return
	}
	binary.LittleEndian.PutUint32(s[8:], 0)
	binary.LittleEndian.PutUint32(s[8:], crc32.Checksum(s, castagnoli))
}
