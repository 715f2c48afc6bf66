// Package flowtable holds the flow key, its extraction from packet headers
// and the lookup tables keyed by it. It is a leaf: it knows bytes, not ports.
package flowtable

import (
	"encoding/binary"
	"math/rand/v2"
	"unsafe"
)

// Key is the exact description of a packet the datapath classifies on.
// Its layout is explicit (no implicit padding) and a multiple of 8 bytes so
// it can be viewed as words for hashing and masking.
type Key struct {
	InPort  uint32 // datapath port number
	DlType  uint16 // innermost EtherType after VLAN tags
	VlanTCI uint16 // outer 802.1Q/802.1ad tag; TCIPresent set when a tag exists

	DlSrc     [6]byte
	InnerTCI  uint16 // second (inner) tag; TCIPresent set when present
	DlDst     [6]byte
	VlanTPID  uint16 // TPID of the outer tag (0x8100 or 0x88a8)
	NwProto   uint8  // IP protocol, or the low byte of the ARP opcode
	NwTos     uint8  // DSCP+ECN byte
	NwTTL     uint8
	NwFrag    uint8 // FragAny | FragLater
	TCPFlags  uint16
	TpSrc     uint16 // L4 source port, or ICMP type
	TpDst     uint16 // L4 destination port, or ICMP code
	_         [6]byte
	NwSrc     [16]byte // IPv4 in the first 4 bytes; ARP SPA for ARP
	NwDst     [16]byte // IPv4 in the first 4 bytes; ARP TPA for ARP
	ArpSha    [6]byte  // ARP SHA, or ND source link-layer address
	ArpTha    [6]byte  // ARP THA, or ND target link-layer address
	IPv6Label uint32
	NDTarget  [16]byte
	TunID     uint64
	TunSrc    [4]byte
	TunDst    [4]byte
}

// KeyWords is the size of a Key in 64-bit words.
const KeyWords = int(unsafe.Sizeof(Key{})) / 8

// The layout must stay a whole number of words.
var _ [0]struct{} = [unsafe.Sizeof(Key{}) % 8]struct{}{}

const (
	// TCIPresent marks a VLAN TCI as present (OVS's CFI convention).
	TCIPresent = 0x1000

	FragAny   = 1 // packet is a fragment
	FragLater = 2 // packet is a non-first fragment
)

// Words views the key as 64-bit words.
func (k *Key) Words() *[KeyWords]uint64 {
	return (*[KeyWords]uint64)(unsafe.Pointer(k))
}

// Hash returns a 32-bit hash of the whole key.
func (k *Key) Hash() uint32 {
	var sum uint64
	for i, w := range k.Words() {
		sum += (w ^ hashSeed[i]) * hashMul[i]
	}
	return finish(sum)
}

// The key hash is a sum of independent per-word products (the CPU runs
// them in parallel) with a final mix. The per-word seeds are random per
// process so nobody can precompute colliding keys.
var hashSeed, hashMul = func() (seed, mul [KeyWords]uint64) {
	for i := range seed {
		seed[i] = rand.Uint64()
		mul[i] = rand.Uint64() | 1
	}
	return
}()

func finish(x uint64) uint32 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return uint32(x)
}

// IPv4Src returns the IPv4 source address stored in NwSrc.
func (k *Key) IPv4Src() uint32 { return binary.BigEndian.Uint32(k.NwSrc[:4]) }

// IPv4Dst returns the IPv4 destination address stored in NwDst.
func (k *Key) IPv4Dst() uint32 { return binary.BigEndian.Uint32(k.NwDst[:4]) }

// VLAN returns the outer VLAN ID, or -1 when the packet is untagged.
func (k *Key) VLAN() int {
	if k.VlanTCI&TCIPresent == 0 {
		return -1
	}
	return int(k.VlanTCI & 0x0fff)
}

// EtherTypes the extractor understands.
const (
	EthTypeIPv4  = 0x0800
	EthTypeARP   = 0x0806
	EthTypeVLAN  = 0x8100
	EthTypeQinQ  = 0x88a8
	EthTypeIPv6  = 0x86dd
	EthTypeRARP  = 0x8035
	IPProtoICMP  = 1
	IPProtoTCP   = 6
	IPProtoUDP   = 17
	IPProtoICMP6 = 58
	IPProtoSCTP  = 132
)

// Subset reports whether every bit set in a is also set in b (a mask a is
// no more specific than mask b).
func Subset(a, b *Key) bool {
	aw, bw := a.Words(), b.Words()
	for i := range aw {
		if aw[i]&^bw[i] != 0 {
			return false
		}
	}
	return true
}

// ApplyMask clears the bits of k that mask does not have.
func ApplyMask(k, mask *Key) {
	kw, mw := k.Words(), mask.Words()
	for i := range kw {
		kw[i] &= mw[i]
	}
}

// Or sets in k every bit set in o.
func (k *Key) Or(o *Key) {
	kw, ow := k.Words(), o.Words()
	for i := range kw {
		kw[i] |= ow[i]
	}
}
