package datapath

import "encoding/binary"

// ActionKind is a datapath action: what the slow path compiled a flow into.
type ActionKind uint8

const (
	// ActOutput queues the packet on datapath port Port.
	ActOutput ActionKind = iota + 1
	// ActPushVLAN inserts an outer tag: TPID in Arg>>16, TCI in Arg&0xffff.
	ActPushVLAN
	// ActPopVLAN removes the outer tag, if any.
	ActPopVLAN
	// ActSetVLAN rewrites the TCI of the outer tag to Arg&0xffff.
	ActSetVLAN
	// ActSetEthSrc and ActSetEthDst write the MAC in the low 48 bits of Arg.
	ActSetEthSrc
	ActSetEthDst
	// ActSetIPv4Src/Dst write the address in Arg, fixing the IPv4 header
	// checksum and the TCP/UDP checksum (pseudo-header).
	ActSetIPv4Src
	ActSetIPv4Dst
	// ActSetIPv4Tos writes the TOS byte (Arg), ActSetIPv4TTL the TTL (Arg).
	ActSetIPv4Tos
	ActSetIPv4TTL
	// ActSetIPv6Src/Dst write the address Arg (high 64 bits) Arg2 (low),
	// fixing the TCP/UDP checksum; ActSetIPv6TC/HopLimit the traffic
	// class and hop limit.
	ActSetIPv6Src
	ActSetIPv6Dst
	ActSetIPv6TC
	ActSetIPv6HopLimit
	// ActSetTPSrc/Dst write a TCP, UDP or SCTP port (Arg), fixing the
	// checksum (TCP, UDP; SCTP's CRC32c is recomputed).
	ActSetTPSrc
	ActSetTPDst
	// ActUserspace hands a copy of the packet, as it is at that point, to
	// the Punter with cookie Arg (a controller action); the packet goes on.
	ActUserspace
	// ActTunnelPush sends an encapsulated copy (tunnel header Arg, from
	// TunnelHeaderID) out of port Port; the packet itself is unchanged.
	ActTunnelPush
	// ActTunnelPop decapsulates (TunnelPop) and recirculates; it ends the
	// action list.
	ActTunnelPop
	// ActSetTunnel sets the packet's tunnel metadata for a port that
	// encapsulates itself (the kernel-underlay VXLAN port): VNI Arg,
	// remote IPv4 endpoint in the low 32 bits of Arg2.
	ActSetTunnel
)

// Action is one datapath action; a flow's actions are a pointer-free slice
// of these so flow tables cost the garbage collector nothing.
type Action struct {
	Kind ActionKind
	_    [3]byte
	Port uint32
	Arg  uint64
	Arg2 uint64
}

// Output returns an output action.
func Output(port uint32) Action { return Action{Kind: ActOutput, Port: port} }

// PushVLAN returns an action pushing a tag with the given TPID and TCI.
func PushVLAN(tpid, tci uint16) Action {
	return Action{Kind: ActPushVLAN, Arg: uint64(tpid)<<16 | uint64(tci)}
}

// PopVLAN returns an action removing the outer tag.
func PopVLAN() Action { return Action{Kind: ActPopVLAN} }

// SetVLAN returns an action rewriting the outer tag's TCI.
func SetVLAN(tci uint16) Action { return Action{Kind: ActSetVLAN, Arg: uint64(tci)} }

// MACArg packs a MAC into an action argument.
func MACArg(mac [6]byte) uint64 {
	var b [8]byte
	copy(b[2:], mac[:])
	return binary.BigEndian.Uint64(b[:])
}

func isVLANType(t uint16) bool { return t == 0x8100 || t == 0x88a8 }

// apply runs a non-output action on p. It reports false if the packet can't
// take it (no room, no tag where one is needed) so the caller drops it.
func apply(a *Action, p *Packet) bool {
	switch a.Kind {
	case ActPushVLAN:
		if p.Len() < 14 {
			return false
		}
		if _, err := p.Push(4); err != nil {
			return false
		}
		h := p.Data()
		copy(h[:12], h[4:16])
		binary.BigEndian.PutUint16(h[12:], uint16(a.Arg>>16))
		binary.BigEndian.PutUint16(h[14:], uint16(a.Arg))
	case ActPopVLAN:
		d := p.Data()
		if len(d) < 18 || !isVLANType(binary.BigEndian.Uint16(d[12:])) {
			return true
		}
		copy(d[4:16], d[:12])
		_ = p.Pull(4)
	case ActSetVLAN:
		d := p.Data()
		if len(d) < 18 || !isVLANType(binary.BigEndian.Uint16(d[12:])) {
			return false
		}
		binary.BigEndian.PutUint16(d[14:], uint16(a.Arg))
	case ActSetIPv4Src, ActSetIPv4Dst, ActSetIPv4Tos, ActSetIPv4TTL,
		ActSetIPv6Src, ActSetIPv6Dst, ActSetIPv6TC, ActSetIPv6HopLimit,
		ActSetTPSrc, ActSetTPDst:
		return setL3L4(a, p.Data())
	case ActSetTunnel:
		p.Tun = TunnelMeta{Valid: true, ID: a.Arg,
			Dst: [4]byte{byte(a.Arg2 >> 24), byte(a.Arg2 >> 16), byte(a.Arg2 >> 8), byte(a.Arg2)}}
	case ActSetEthSrc, ActSetEthDst:
		d := p.Data()
		if len(d) < 14 {
			return false
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], a.Arg)
		if a.Kind == ActSetEthDst {
			copy(d[0:6], b[2:])
		} else {
			copy(d[6:12], b[2:])
		}
	}
	return true
}

// Simulated is one packet a Simulate run sent out.
type Simulated struct {
	Port  uint32
	Frame []byte
}

// Simulate runs acts on a copy of frame the way a PMD does (outputs before
// the last action get copies) and returns what would leave which port: for
// trace tools and tests that compare the cached and uncached paths.
func Simulate(frame []byte, acts []Action) []Simulated {
	buf := make([]byte, Headroom+MaxData)
	p := &Packet{frame: buf}
	p.Reset()
	if p.CopyFrom(frame) != nil {
		return nil
	}
	var out []Simulated
	for i := range acts {
		a := &acts[i]
		if a.Kind == ActOutput {
			out = append(out, Simulated{Port: a.Port, Frame: append([]byte(nil), p.Data()...)})
			continue
		}
		if !apply(a, p) {
			break
		}
	}
	return out
}
