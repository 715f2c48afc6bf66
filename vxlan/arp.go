package vxlan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"vswitch/datapath/netdev/vnethdr"
)

// Frame sizes of the requests the switch sends to resolve a next hop.
const (
	// ARPRequestLen is an Ethernet ARP request padded to the 60-byte
	// Ethernet minimum (some NIC drivers do not pad short frames).
	ARPRequestLen = 60
	// NSLen is an IPv6 neighbour solicitation with a source link-layer
	// address option: 14 + 40 + 32.
	NSLen = EthLen + IPv6Len + 32

	arpLen = 28

	icmp6NS = 135
	icmp6NA = 136

	ndOptSourceLL = 1
	ndOptTargetLL = 2
)

// ErrShortBuffer is returned when a caller's buffer cannot hold the frame.
var ErrShortBuffer = errors.New("vxlan: buffer too short")

// ARPRequest writes a broadcast ARP request asking for target's MAC into
// buf and returns its length.
func ARPRequest(buf []byte, srcMAC [6]byte, src, target netip.Addr) (int, error) {
	src, target = src.Unmap(), target.Unmap()
	if !src.Is4() || !target.Is4() {
		return 0, fmt.Errorf("vxlan: ARP request needs IPv4 addresses, have %s and %s", src, target)
	}
	if len(buf) < ARPRequestLen {
		return 0, ErrShortBuffer
	}
	b := buf[:ARPRequestLen]
	clear(b)
	copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(b[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(b[12:], etherTypeARP)
	a := b[EthLen:]
	binary.BigEndian.PutUint16(a[0:], 1) // Ethernet
	binary.BigEndian.PutUint16(a[2:], etherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:14], srcMAC[:])
	s4, t4 := src.As4(), target.As4()
	copy(a[14:18], s4[:])
	// THA stays zero (RFC 826 leaves it unspecified in a request).
	copy(a[24:28], t4[:])
	return ARPRequestLen, nil
}

// SolicitedNode returns the solicited-node multicast address of ip
// (RFC 4291 §2.7.1) and the Ethernet address it maps to (RFC 2464 §7).
func SolicitedNode(ip netip.Addr) (netip.Addr, [6]byte) {
	a := ip.As16()
	m := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
	return netip.AddrFrom16(m), [6]byte{0x33, 0x33, 0xff, a[13], a[14], a[15]}
}

// NeighborSolicitation writes an IPv6 neighbour solicitation for target,
// sent to its solicited-node multicast group with a source link-layer
// address option, into buf and returns its length.
func NeighborSolicitation(buf []byte, srcMAC [6]byte, src, target netip.Addr) (int, error) {
	if !src.Is6() || src.Is4In6() || !target.Is6() || target.Is4In6() {
		return 0, fmt.Errorf("vxlan: neighbour solicitation needs IPv6 addresses, have %s and %s", src, target)
	}
	if len(buf) < NSLen {
		return 0, ErrShortBuffer
	}
	b := buf[:NSLen]
	clear(b)
	group, groupMAC := SolicitedNode(target)
	copy(b[0:6], groupMAC[:])
	copy(b[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(b[12:], etherTypeIPv6)
	ip := b[EthLen : EthLen+IPv6Len]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], 32)
	ip[6] = protoICMPv6
	ip[7] = 255 // RFC 4861 §7.1.1: receivers drop ND with another hop limit
	s16, g16, t16 := src.As16(), group.As16(), target.As16()
	copy(ip[8:24], s16[:])
	copy(ip[24:40], g16[:])
	icmp := b[EthLen+IPv6Len:]
	icmp[0] = icmp6NS
	copy(icmp[8:24], t16[:])
	icmp[24] = ndOptSourceLL
	icmp[25] = 1 // length in units of 8 bytes
	copy(icmp[26:32], srcMAC[:])
	c := ^vnethdr.Fold(vnethdr.Sum(icmp, vnethdr.PseudoSum(ip[8:24], ip[24:40], protoICMPv6, len(icmp))))
	binary.BigEndian.PutUint16(icmp[2:], c)
	return NSLen, nil
}

// ParseNeighbour extracts a binding the switch can learn from an ARP
// packet (reply or request: both carry the sender's IP and MAC, as
// RFC 826's merge step uses) or an IPv6 neighbour advertisement with a
// target link-layer address option. One VLAN tag is allowed. ok is false
// for anything else, or a malformed packet.
func ParseNeighbour(frame []byte) (ip netip.Addr, mac [6]byte, ok bool) {
	if len(frame) < EthLen {
		return ip, mac, false
	}
	et := binary.BigEndian.Uint16(frame[12:])
	l3 := EthLen
	if et == etherTypeVLAN || et == etherTypeQinQ {
		if len(frame) < EthLen+VLANLen {
			return ip, mac, false
		}
		et = binary.BigEndian.Uint16(frame[16:])
		l3 += VLANLen
	}
	switch et {
	case etherTypeARP:
		return parseARP(frame[l3:])
	case etherTypeIPv6:
		return parseNA(frame[l3:])
	}
	return ip, mac, false
}

func parseARP(a []byte) (ip netip.Addr, mac [6]byte, ok bool) {
	if len(a) < arpLen || binary.BigEndian.Uint16(a[0:]) != 1 ||
		binary.BigEndian.Uint16(a[2:]) != etherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		return ip, mac, false
	}
	if op := binary.BigEndian.Uint16(a[6:]); op != 1 && op != 2 {
		return ip, mac, false
	}
	copy(mac[:], a[8:14])
	ip = netip.AddrFrom4([4]byte(a[14:18]))
	if !usableBinding(ip, mac) {
		return netip.Addr{}, [6]byte{}, false
	}
	return ip, mac, true
}

// parseNA validates a neighbour advertisement as RFC 4861 §7.1.2 asks
// (hop limit 255, code 0, valid checksum, length, options) and returns its
// target and target link-layer address.
func parseNA(ip6 []byte) (ip netip.Addr, mac [6]byte, ok bool) {
	if len(ip6) < IPv6Len+24 || ip6[0]>>4 != 6 || ip6[6] != protoICMPv6 || ip6[7] != 255 {
		return ip, mac, false
	}
	plen := int(binary.BigEndian.Uint16(ip6[4:]))
	if plen < 24 || IPv6Len+plen > len(ip6) {
		return ip, mac, false
	}
	icmp := ip6[IPv6Len : IPv6Len+plen]
	if icmp[0] != icmp6NA || icmp[1] != 0 ||
		vnethdr.Fold(vnethdr.Sum(icmp, vnethdr.PseudoSum(ip6[8:24], ip6[24:40], protoICMPv6, plen))) != 0xffff {
		return ip, mac, false
	}
	ip = netip.AddrFrom16([16]byte(icmp[8:24]))
	found := false
	for opts := icmp[24:]; len(opts) > 0; {
		if len(opts) < 8 || opts[1] == 0 {
			return netip.Addr{}, mac, false
		}
		l := int(opts[1]) * 8
		if l > len(opts) {
			return netip.Addr{}, mac, false
		}
		if opts[0] == ndOptTargetLL && l == 8 {
			copy(mac[:], opts[2:8])
			found = true
		}
		opts = opts[l:]
	}
	if !found || ip.IsMulticast() || !usableBinding(ip, mac) {
		return netip.Addr{}, [6]byte{}, false
	}
	return ip, mac, true
}

// usableBinding refuses bindings nobody should route to: unspecified
// addresses (ARP probes) and multicast/broadcast or zero MACs.
func usableBinding(ip netip.Addr, mac [6]byte) bool {
	return !ip.IsUnspecified() && mac[0]&1 == 0 && mac != [6]byte{}
}
