package flowtable

import "testing"

var benchKey Key

func benchExtract(b *testing.B, frame []byte) {
	if !Extract(frame, 1, &benchKey) || benchKey.TpDst == 0 {
		b.Fatalf("benchmark frame did not parse to L4: %+v", benchKey)
	}
	b.ReportAllocs()
	for b.Loop() {
		Extract(frame, 1, &benchKey)
	}
}

// BenchmarkExtractUDP4 is the common case: an untagged Ethernet/IPv4/UDP
// frame padded to the minimum size.
func BenchmarkExtractUDP4(b *testing.B) {
	benchExtract(b, pad(cat(eth(EthTypeIPv4),
		ipv4(ip4Hdr{proto: IPProtoUDP, ttl: 64}, udp(1024, 4789, make([]byte, 18)))), 60))
}

// BenchmarkExtractTCP6VLAN exercises the longer path: an 802.1Q tag, a
// 16-byte IPv6 address pair and a TCP header with options.
func BenchmarkExtractTCP6VLAN(b *testing.B) {
	benchExtract(b, cat(eth(EthTypeIPv6, tag{EthTypeVLAN, 100}),
		ipv6(ip6Hdr{next: IPProtoTCP, hlim: 64, label: 0x1234},
			tcp(50000, 443, 0x010, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, make([]byte, 64)))))
}
