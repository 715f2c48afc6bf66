package vnethdr

import (
	"encoding/binary"
)

const (
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
	etherTypeVLAN  = 0x8100
	etherTypeQinQ  = 0x88a8
	protoTCP       = 6
	protoUDP       = 17
	tcpFlagFIN     = 0x01
	tcpFlagPSH     = 0x08
	tcpFlagCWR     = 0x80
	maxVLANTags    = 2
	ipv6HeaderLen  = 40
	udpHeaderLen   = 8
	minTCPHdrLen   = 20
	ipv6HopByHop   = 0
	ipv6Routing    = 43
	ipv6DestOpts   = 60
	maxIPv6ExtHdrs = 4
)

// Segmenter cuts one GSO super-frame into wire-sized packets the way a NIC
// doing TSO/USO would. It yields one segment per Next call so a caller with a
// bounded batch can stop and carry on later; it keeps only offsets into the
// source frame, which must stay untouched until the last segment is taken.
type Segmenter struct {
	src    []byte
	l3, l4 int // offsets of the network and transport headers
	hlen   int // length of all headers, copied in front of every segment
	mss    int
	pos    int // offset in src of the next payload byte
	seg    int // index of the next segment
	nseg   int
	v4     bool
	tcp    bool
	ipID   uint16
	seq    uint32
}

// Start prepares to segment frame, an Ethernet frame (optionally VLAN
// tagged) described by h. It checks that the headers agree with h.GSOType
// and that the frame holds them.
func (s *Segmenter) Start(frame []byte, h Hdr) error {
	*s = Segmenter{}
	l3, l4, v4, proto, err := parseHeaders(frame)
	if err != nil {
		return err
	}
	switch h.GSOType &^ GSOECN {
	case GSOTCPv4:
		if !v4 || proto != protoTCP {
			return ErrBadHeader
		}
	case GSOTCPv6:
		if v4 || proto != protoTCP {
			return ErrBadHeader
		}
	case GSOUDPL4:
		if proto != protoUDP {
			return ErrBadHeader
		}
	default:
		return ErrUnsupported
	}
	if h.GSOSize == 0 {
		return ErrBadHeader
	}
	hlen := l4 + udpHeaderLen
	if proto == protoTCP {
		if l4+minTCPHdrLen > len(frame) {
			return ErrShort
		}
		doff := int(frame[l4+12]>>4) * 4
		if doff < minTCPHdrLen {
			return ErrBadHeader
		}
		hlen = l4 + doff
	}
	if hlen > len(frame) {
		return ErrShort
	}
	payload := len(frame) - hlen
	s.src = frame
	s.l3, s.l4, s.hlen = l3, l4, hlen
	s.mss = int(h.GSOSize)
	s.pos = hlen
	s.nseg = (payload + s.mss - 1) / s.mss
	if s.nseg == 0 {
		s.nseg = 1
	}
	s.v4 = v4
	s.tcp = proto == protoTCP
	if v4 {
		s.ipID = binary.BigEndian.Uint16(frame[l3+4:])
	}
	if s.tcp {
		s.seq = binary.BigEndian.Uint32(frame[l4+4:])
	}
	return nil
}

// Active reports whether segments remain to be taken with Next.
func (s *Segmenter) Active() bool { return s.seg < s.nseg }

// Segments returns how many segments the current frame makes.
func (s *Segmenter) Segments() int { return s.nseg }

// MaxSegLen returns the length of the largest segment (headers + MSS).
func (s *Segmenter) MaxSegLen() int {
	if p := len(s.src) - s.hlen; p < s.mss {
		return s.hlen + p
	}
	return s.hlen + s.mss
}

// Abort forgets the current frame.
func (s *Segmenter) Abort() { *s = Segmenter{} }

// Next writes the next segment into dst and returns its length. It returns
// ErrNoRoom, without advancing, when dst is too small for the segment.
func (s *Segmenter) Next(dst []byte) (int, error) {
	n := min(s.mss, len(s.src)-s.pos)
	total := s.hlen + n
	if total > len(dst) {
		return 0, ErrNoRoom
	}
	copy(dst[:s.hlen], s.src[:s.hlen])
	copy(dst[s.hlen:total], s.src[s.pos:s.pos+n])
	first := s.seg == 0
	last := s.seg == s.nseg-1
	l3, l4 := s.l3, s.l4
	var pseudo uint64
	if s.v4 {
		ihl := int(dst[l3]&0x0f) * 4
		binary.BigEndian.PutUint16(dst[l3+2:], uint16(total-l3))
		binary.BigEndian.PutUint16(dst[l3+4:], s.ipID+uint16(s.seg))
		dst[l3+10], dst[l3+11] = 0, 0
		binary.BigEndian.PutUint16(dst[l3+10:], Checksum(dst[l3:l3+ihl]))
		pseudo = PseudoSum(dst[l3+12:l3+16], dst[l3+16:l3+20], s.proto(), total-l4)
	} else {
		binary.BigEndian.PutUint16(dst[l3+4:], uint16(total-l3-ipv6HeaderLen))
		pseudo = PseudoSum(dst[l3+8:l3+24], dst[l3+24:l3+40], s.proto(), total-l4)
	}
	if s.tcp {
		binary.BigEndian.PutUint32(dst[l4+4:], s.seq+uint32(s.seg*s.mss))
		flags := dst[l4+13]
		if !last {
			flags &^= tcpFlagFIN | tcpFlagPSH
		}
		if !first {
			flags &^= tcpFlagCWR
		}
		dst[l4+13] = flags
		dst[l4+16], dst[l4+17] = 0, 0
		binary.BigEndian.PutUint16(dst[l4+16:], ^Fold(Sum(dst[l4:total], pseudo)))
	} else {
		binary.BigEndian.PutUint16(dst[l4+4:], uint16(total-l4))
		dst[l4+6], dst[l4+7] = 0, 0
		c := ^Fold(Sum(dst[l4:total], pseudo))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(dst[l4+6:], c)
	}
	s.pos += n
	s.seg++
	return total, nil
}

func (s *Segmenter) proto() uint8 {
	if s.tcp {
		return protoTCP
	}
	return protoUDP
}

// parseHeaders finds the network and transport headers of an Ethernet frame
// with up to two VLAN tags and IPv4 or IPv6 (with hop-by-hop, routing or
// destination-options extension headers).
func parseHeaders(f []byte) (l3, l4 int, v4 bool, proto uint8, err error) {
	if len(f) < 14 {
		return 0, 0, false, 0, ErrShort
	}
	off := 12
	et := binary.BigEndian.Uint16(f[off:])
	for tags := 0; (et == etherTypeVLAN || et == etherTypeQinQ) && tags < maxVLANTags; tags++ {
		off += 4
		if off+2 > len(f) {
			return 0, 0, false, 0, ErrShort
		}
		et = binary.BigEndian.Uint16(f[off:])
	}
	l3 = off + 2
	switch et {
	case etherTypeIPv4:
		if l3+20 > len(f) {
			return 0, 0, false, 0, ErrShort
		}
		if f[l3]>>4 != 4 {
			return 0, 0, false, 0, ErrBadHeader
		}
		ihl := int(f[l3]&0x0f) * 4
		if ihl < 20 {
			return 0, 0, false, 0, ErrBadHeader
		}
		l4 = l3 + ihl
		if l4 > len(f) {
			return 0, 0, false, 0, ErrShort
		}
		return l3, l4, true, f[l3+9], nil
	case etherTypeIPv6:
		if l3+ipv6HeaderLen > len(f) {
			return 0, 0, false, 0, ErrShort
		}
		if f[l3]>>4 != 6 {
			return 0, 0, false, 0, ErrBadHeader
		}
		next := f[l3+6]
		l4 = l3 + ipv6HeaderLen
		for i := 0; next == ipv6HopByHop || next == ipv6Routing || next == ipv6DestOpts; i++ {
			if i == maxIPv6ExtHdrs || l4+8 > len(f) {
				return 0, 0, false, 0, ErrUnsupported
			}
			next = f[l4]
			l4 += (int(f[l4+1]) + 1) * 8
		}
		if l4 > len(f) {
			return 0, 0, false, 0, ErrShort
		}
		return l3, l4, false, next, nil
	}
	return 0, 0, false, 0, ErrUnsupported
}
