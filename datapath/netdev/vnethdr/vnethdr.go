// Package vnethdr decodes the virtio-net header that Linux puts in front of
// frames on AF_PACKET sockets with PACKET_VNET_HDR (and that virtio guests
// put in front of frames on a vhost-user queue), completes partial checksums
// and segments GSO super-frames in software.
//
// Nothing here allocates: a Segmenter is a value the caller keeps, and every
// function works on caller-owned slices.
package vnethdr

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Len is the size of struct virtio_net_hdr (without num_buffers).
const Len = 10

// Flags of virtio_net_hdr.flags.
const (
	// FlagNeedsCsum: the checksum from CsumStart to the end is partial and
	// must be completed into CsumStart+CsumOffset.
	FlagNeedsCsum = 1
	// FlagDataValid: the sender already validated the checksum.
	FlagDataValid = 2
)

// GSO types of virtio_net_hdr.gso_type.
const (
	GSONone  = 0
	GSOTCPv4 = 1
	GSOUDP   = 3 // UFO: IP fragmentation; Linux no longer produces it
	GSOTCPv6 = 4
	GSOUDPL4 = 5 // USO: UDP segmentation, each segment a datagram
	GSOECN   = 0x80
)

// Errors returned for frames that cannot be completed or segmented. They are
// frame problems, not socket problems: the caller drops the frame and counts it.
var (
	ErrShort       = errors.New("vnethdr: frame too short for its headers")
	ErrBadHeader   = errors.New("vnethdr: inconsistent virtio-net header")
	ErrUnsupported = errors.New("vnethdr: unsupported GSO type or protocol")
	ErrNoRoom      = errors.New("vnethdr: segment does not fit the destination buffer")
)

// Hdr is a decoded virtio_net_hdr.
type Hdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// Decode reads a little-endian virtio_net_hdr (what Linux uses on AF_PACKET
// and modern virtio devices use) from the first Len bytes of b.
func Decode(b []byte) Hdr {
	_ = b[Len-1]
	return Hdr{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     binary.LittleEndian.Uint16(b[2:]),
		GSOSize:    binary.LittleEndian.Uint16(b[4:]),
		CsumStart:  binary.LittleEndian.Uint16(b[6:]),
		CsumOffset: binary.LittleEndian.Uint16(b[8:]),
	}
}

// Encode writes h into the first Len bytes of b.
func (h Hdr) Encode(b []byte) {
	_ = b[Len-1]
	b[0] = h.Flags
	b[1] = h.GSOType
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
}

// IsGSO reports whether the frame is a super-frame that must be segmented.
func (h Hdr) IsGSO() bool { return h.GSOType&^GSOECN != GSONone }

// NeedsCsum reports whether a partial checksum must be completed.
func (h Hdr) NeedsCsum() bool { return h.Flags&FlagNeedsCsum != 0 }

// String formats the header for error messages and tests.
func (h Hdr) String() string {
	return fmt.Sprintf("flags=%#x gso=%#x hdr_len=%d gso_size=%d csum_start=%d csum_offset=%d",
		h.Flags, h.GSOType, h.HdrLen, h.GSOSize, h.CsumStart, h.CsumOffset)
}

// CompleteChecksum finishes a partial checksum: the 16-bit field at
// start+off already holds the pseudo-header sum, so the ones' complement of
// the sum from start to the end of frame is stored there. A result of zero
// is written as 0xffff (equivalent for TCP, required for UDP).
func CompleteChecksum(frame []byte, start, off int) error {
	if start < 0 || off < 0 || start+off+2 > len(frame) {
		return ErrBadHeader
	}
	c := ^Fold(Sum(frame[start:], 0))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(frame[start+off:], c)
	return nil
}

// Complete applies h to a frame that is not GSO: it completes the partial
// checksum if h asks for one. (Use a Segmenter for GSO frames.)
func Complete(frame []byte, h Hdr) error {
	if !h.NeedsCsum() {
		return nil
	}
	return CompleteChecksum(frame, int(h.CsumStart), int(h.CsumOffset))
}
