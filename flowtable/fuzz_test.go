package flowtable

import (
	"bytes"
	"testing"
)

// FuzzExtract feeds arbitrary frames to Extract. Beyond not panicking it
// checks that the key depends only on the frame's bytes within its length
// (not on the caller's key, nor on bytes past len within cap), and the
// invariants every consumer relies on.
func FuzzExtract(f *testing.F) {
	for _, tc := range extractCases() {
		f.Add(tc.frame, tc.want.InPort)
	}
	f.Add([]byte{}, uint32(0))
	f.Add(bytes.Repeat([]byte{0xff}, 64), uint32(0xffffffff))
	f.Add(cat(eth(EthTypeIPv6), ipv6(ip6Hdr{next: ipProtoHopOpts}, bytes.Repeat(ext6(ipProtoHopOpts, 0), 40))), uint32(1))

	f.Fuzz(func(t *testing.T, frame []byte, inPort uint32) {
		exact := make([]byte, len(frame))
		copy(exact, frame)
		var k1 Key
		ok1 := Extract(exact, inPort, &k1)

		// Same bytes, dirty key, and poison after len: bytes beyond the
		// frame must never be read, even where the slice could reach them.
		roomy := make([]byte, len(frame), len(frame)+96)
		copy(roomy, frame)
		poison := roomy[len(frame):cap(roomy)]
		for i := range poison {
			poison[i] = 0x86 ^ byte(i)
		}
		var k2 Key
		dirty(&k2)
		ok2 := Extract(roomy, inPort, &k2)

		if ok1 != ok2 || k1 != k2 {
			t.Fatalf("Extract not deterministic: ok %v/%v:%s", ok1, ok2, keyDiff(&k2, &k1))
		}
		if !bytes.Equal(exact, frame) {
			t.Fatal("Extract modified the frame")
		}
		if ok1 != (len(frame) >= ethHeaderLen) {
			t.Fatalf("ok=%v for a %d-byte frame", ok1, len(frame))
		}
		if !ok1 {
			if k1 != (Key{InPort: inPort}) {
				t.Fatalf("short frame left fields set:%s", keyDiff(&k1, &Key{InPort: inPort}))
			}
			return
		}
		if k1.InPort != inPort || k1.TunID != 0 || k1.TunSrc != [4]byte{} || k1.TunDst != [4]byte{} {
			t.Fatal("in_port or tunnel fields wrong")
		}
		if k1.VlanTCI != 0 && k1.VlanTCI&TCIPresent == 0 || k1.InnerTCI != 0 && k1.InnerTCI&TCIPresent == 0 {
			t.Fatalf("tag without TCIPresent: %#x %#x", k1.VlanTCI, k1.InnerTCI)
		}
		if k1.InnerTCI != 0 && k1.VlanTCI == 0 {
			t.Fatal("inner tag without outer tag")
		}
		if k1.NwFrag&FragLater != 0 && (k1.TpSrc|k1.TpDst|k1.TCPFlags != 0 || k1.NwFrag&FragAny == 0) {
			t.Fatalf("later fragment with L4 fields: %+v", k1)
		}
		if k1.TCPFlags != 0 && k1.NwProto != IPProtoTCP || k1.TCPFlags&^0x0fff != 0 {
			t.Fatalf("TCP flags %#x with protocol %d", k1.TCPFlags, k1.NwProto)
		}
		switch k1.DlType {
		case EthTypeIPv4, EthTypeIPv6, EthTypeARP, EthTypeRARP:
		default:
			var l3 Key
			l3.InPort, l3.DlType, l3.DlSrc, l3.DlDst = k1.InPort, k1.DlType, k1.DlSrc, k1.DlDst
			l3.VlanTCI, l3.VlanTPID, l3.InnerTCI = k1.VlanTCI, k1.VlanTPID, k1.InnerTCI
			if k1 != l3 {
				t.Fatalf("L3 fields set for dl_type %#x:%s", k1.DlType, keyDiff(&k1, &l3))
			}
		}
	})
}
