package vnethdr

import (
	"encoding/binary"
	"math/bits"
)

// Sum adds b, as big-endian 16-bit words, to the ones' complement
// accumulator acc and returns the new accumulator. Fold it to 16 bits at the
// end. Sums of several pieces may be added with Sum(next, acc) as long as
// every piece but the last has an even length.
//
// It works on 64-bit words with an end-around carry: since 2^16 ≡ 1 (mod
// 2^16-1), folding the 64-bit sum gives the same result as adding 16-bit
// words, at a quarter of the additions.
func Sum(b []byte, acc uint64) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	acc, c = bits.Add64(acc, 0, c)
	acc += c // cannot overflow: acc is 0 when c is 1
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), 0)
		acc += c
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), 0)
		acc += c
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, 0)
		acc += c
	}
	return acc
}

// Fold reduces a Sum accumulator to a 16-bit ones' complement sum (not yet
// complemented).
func Fold(acc uint64) uint16 {
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint16(acc)
}

// Checksum returns the Internet checksum (RFC 1071) of b: the ones'
// complement of its ones' complement sum.
func Checksum(b []byte) uint16 { return ^Fold(Sum(b, 0)) }

// PseudoSum returns the accumulator of the TCP/UDP pseudo-header for an IPv4
// (src, dst 4 bytes) or IPv6 (16 bytes) packet with upper-layer length l4len.
func PseudoSum(src, dst []byte, proto uint8, l4len int) uint64 {
	acc := Sum(src, 0)
	acc = Sum(dst, acc)
	acc, c := bits.Add64(acc, uint64(proto)+uint64(l4len), 0)
	return acc + c
}
