package vxlan

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"vswitch/datapath/netdev/vnethdr"
)

// InnerMTU is the largest inner IP packet (the overlay interface MTU) that
// fits an underlay link of underlayMTU once encapsulated with t: the outer
// IP, UDP and VXLAN headers and the inner Ethernet header all count
// against the underlay MTU (1500 - 50 = 1450 for IPv4, 1430 for IPv6).
func (t *Template) InnerMTU(underlayMTU int) int {
	return underlayMTU - (int(t.n) - int(t.l3)) - EthLen
}

// Fits reports whether an inner Ethernet frame of innerLen bytes (without
// FCS) fits the underlay MTU once encapsulated with t.
func (t *Template) Fits(innerLen, underlayMTU int) bool {
	return innerLen+int(t.n)-int(t.l3) <= underlayMTU
}

// FragNeededMaxLen is the longest frame FragNeeded writes: an Ethernet
// header and a 576-byte IPv4 datagram (RFC 1812 §4.3.2.3).
const FragNeededMaxLen = EthLen + 576

// FragNeeded writes into buf an ICMP "fragmentation needed" (type 3, code
// 4, RFC 1191) answering the inner IPv4 frame that did not fit, with mtu
// as the next-hop MTU, sent from src (the tunnel endpoint's address) back
// to the frame's sender at Ethernet level (MACs swapped), quoting as much
// of the original datagram as fits in 576 bytes. It returns the length, or
// an error when the frame is not a DF-marked, first-fragment IPv4 packet
// (ICMP errors are never sent about those, RFC 1122 §3.2.2) or is itself
// an ICMP error.
func FragNeeded(buf, frame []byte, mtu int, src netip.Addr, ttl uint8) (int, error) {
	if !src.Unmap().Is4() {
		return 0, fmt.Errorf("vxlan: frag-needed source %s is not IPv4", src)
	}
	if len(frame) < EthLen+IPv4Len || binary.BigEndian.Uint16(frame[12:]) != etherTypeIPv4 {
		return 0, fmt.Errorf("vxlan: frag-needed: not an untagged IPv4 frame")
	}
	ip := frame[EthLen:]
	ihl := int(ip[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	switch {
	case ip[0]>>4 != 4 || ihl < IPv4Len || len(ip) < ihl || tot < ihl:
		return 0, fmt.Errorf("vxlan: frag-needed: malformed IPv4 header")
	case binary.BigEndian.Uint16(ip[6:])&ipv4DF == 0:
		return 0, fmt.Errorf("vxlan: frag-needed: DF not set, the packet may be fragmented")
	case binary.BigEndian.Uint16(ip[6:])&0x1fff != 0:
		return 0, fmt.Errorf("vxlan: frag-needed: not a first fragment")
	case ip[16] >= 224 || ip[12] >= 224 || ip[12] == 0:
		return 0, fmt.Errorf("vxlan: frag-needed: multicast, broadcast or unspecified address")
	case ip[9] == 1 && len(ip) > ihl && isICMPError(ip[ihl]):
		return 0, fmt.Errorf("vxlan: frag-needed: the packet is an ICMP error")
	}
	quote := min(tot, len(ip), 576-IPv4Len-8)
	n := EthLen + IPv4Len + 8 + quote
	if len(buf) < n {
		return 0, ErrShortBuffer
	}
	b := buf[:n]
	copy(b[0:6], frame[6:12])
	copy(b[6:12], frame[0:6])
	binary.BigEndian.PutUint16(b[12:], etherTypeIPv4)
	oh := b[EthLen : EthLen+IPv4Len]
	clear(oh)
	oh[0], oh[1] = 0x45, 0xc0 // internetwork control precedence, as routers use for ICMP
	binary.BigEndian.PutUint16(oh[2:], uint16(IPv4Len+8+quote))
	oh[8], oh[9] = ttl, 1
	s4 := src.Unmap().As4()
	copy(oh[12:16], s4[:])
	copy(oh[16:20], ip[12:16])
	binary.BigEndian.PutUint16(oh[10:], ^vnethdr.Fold(vnethdr.Sum(oh, 0)))
	icmp := b[EthLen+IPv4Len:]
	clear(icmp[:8])
	icmp[0], icmp[1] = 3, 4
	binary.BigEndian.PutUint16(icmp[6:], uint16(min(mtu, 0xffff)))
	copy(icmp[8:], ip[:quote])
	binary.BigEndian.PutUint16(icmp[2:], ^vnethdr.Fold(vnethdr.Sum(icmp, 0)))
	return n, nil
}

func isICMPError(typ byte) bool {
	switch typ {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}

// Limiter is a token bucket for ICMP errors the switch originates (Linux
// allows 1000/s with a burst of 50 per host by default,
// net.ipv4.icmp_msgs_per_sec). It is a plain value with no pointers and no
// locks: keep one per PMD. The zero Limiter allows nothing.
type Limiter struct {
	perSec, burst float64
	tokens        float64
	last          int64 // nanoseconds
}

// NewLimiter returns a limiter allowing perSec events a second on average
// and burst at once.
func NewLimiter(perSec, burst int) Limiter {
	return Limiter{perSec: float64(perSec), burst: float64(burst), tokens: float64(burst)}
}

// Allow reports whether an event at now (nanoseconds, e.g. from the PMD's
// clock) may happen, taking a token if so.
func (l *Limiter) Allow(now int64) bool {
	if l.last != 0 && now > l.last {
		l.tokens = min(l.burst, l.tokens+float64(now-l.last)*l.perSec/1e9)
	}
	if l.last == 0 || now > l.last {
		l.last = now
	}
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
