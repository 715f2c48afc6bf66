package vxlan

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Options are a vxlan port's options:..., validated.
type Options struct {
	// RemoteIP is the remote tunnel endpoint; RemoteFlow means flows set
	// it per packet (set_field:...->tun_dst) and RemoteIP is invalid.
	RemoteIP   netip.Addr
	RemoteFlow bool
	// LocalIP is the local endpoint, invalid when unset (the route's
	// preferred source is used then).
	LocalIP netip.Addr
	// Key is the VNI; KeyFlow means flows set it (set_tunnel, tun_id).
	Key     uint32
	KeyFlow bool
	DstPort uint16
	// TOS is the outer DSCP (ECN bits zero), or TOSInherit.
	TOS        uint8
	TOSInherit bool
	// TTL is the outer TTL (DefaultTTL unless set), or TTLInherit.
	TTL        uint8
	TTLInherit bool
	// DF sets IPv4's Don't Fragment bit; default true (path MTU discovery).
	DF bool
	// Csum computes outer UDP checksums over IPv4; default false.
	Csum bool
	// KernelUnderlay sends and receives encapsulated packets through a
	// kernel UDP socket instead of a switch-owned underlay port
	// (options:underlay=kernel; the default is underlay=switch).
	KernelUnderlay bool
}

// OptionNames lists the options ParseOptions accepts.
var OptionNames = []string{"csum", "df_default", "dst_port", "key", "local_ip", "remote_ip", "tos", "ttl", "underlay"}

// ParseOptions validates a vxlan port's options. Errors are one line,
// name the option and say what is expected.
func ParseOptions(m map[string]string) (Options, error) {
	o := Options{DstPort: DefaultPort, TTL: DefaultTTL, DF: true}
	for _, k := range sortedKeys(m) {
		v := strings.TrimSpace(m[k])
		var err error
		switch k {
		case "remote_ip":
			if v == "flow" {
				o.RemoteFlow = true
			} else {
				o.RemoteIP, err = parseEndpoint(v)
			}
		case "local_ip":
			o.LocalIP, err = parseEndpoint(v)
		case "key":
			if v == "flow" {
				o.KeyFlow = true
				break
			}
			var n uint64
			n, err = strconv.ParseUint(v, 0, 64)
			if err != nil || n > MaxVNI {
				err = fmt.Errorf("want a VNI from 0 to %d or \"flow\"", MaxVNI)
			}
			o.Key = uint32(n)
		case "dst_port":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 16)
			if err != nil || n == 0 {
				err = fmt.Errorf("want a UDP port from 1 to 65535 (default %d)", DefaultPort)
			}
			o.DstPort = uint16(n)
		case "tos":
			if v == "inherit" {
				o.TOSInherit = true
				break
			}
			var n uint64
			n, err = strconv.ParseUint(v, 0, 8)
			switch {
			case err != nil:
				err = fmt.Errorf("want a number from 0 to 255 or \"inherit\"")
			case n&ecnMask != 0:
				err = fmt.Errorf("the ECN bits (0x3) must be zero; ECN is always inherited")
			}
			o.TOS = uint8(n)
		case "ttl":
			if v == "inherit" {
				o.TTLInherit = true
				break
			}
			var n uint64
			n, err = strconv.ParseUint(v, 10, 8)
			if err != nil || n == 0 {
				err = fmt.Errorf("want a number from 1 to 255 or \"inherit\"")
			}
			o.TTL = uint8(n)
		case "df_default":
			o.DF, err = parseBool(v)
		case "csum":
			o.Csum, err = parseBool(v)
		case "underlay":
			switch v {
			case "switch":
			case "kernel":
				o.KernelUnderlay = true
			default:
				err = fmt.Errorf("want \"switch\" or \"kernel\"")
			}
		default:
			return Options{}, fmt.Errorf("vxlan: unknown option %q (known: %s)", k, strings.Join(OptionNames, ", "))
		}
		if err != nil {
			return Options{}, fmt.Errorf("vxlan: options:%s=%q: %w", k, m[k], err)
		}
	}
	switch {
	case !o.RemoteFlow && !o.RemoteIP.IsValid():
		return Options{}, fmt.Errorf("vxlan: options:remote_ip is required (an IP address or \"flow\")")
	case o.RemoteIP.IsValid() && o.LocalIP.IsValid() && o.RemoteIP.Is4() != o.LocalIP.Is4():
		return Options{}, fmt.Errorf("vxlan: options:local_ip=%s and options:remote_ip=%s are of different address families", o.LocalIP, o.RemoteIP)
	}
	return o, nil
}

// parseEndpoint accepts a unicast IPv4 or IPv6 address (an IPv4-mapped one
// is unmapped).
func parseEndpoint(v string) (netip.Addr, error) {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("not an IP address")
	}
	a = a.Unmap()
	switch {
	case a.Zone() != "":
		return netip.Addr{}, fmt.Errorf("a zone is not allowed")
	case a.IsUnspecified(), a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}), a.IsLoopback():
		return netip.Addr{}, fmt.Errorf("want a unicast address")
	}
	return a, nil
}

func parseBool(v string) (bool, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("want true or false")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TemplateConfig returns the template configuration for a packet to remote
// with the given VNI, leaving the MACs and VLAN to the caller (they come
// from the route and neighbour lookup). src is used when options:local_ip
// is unset (the route's preferred source).
func (o *Options) TemplateConfig(remote, src netip.Addr, vni uint32) TemplateConfig {
	if o.LocalIP.IsValid() {
		src = o.LocalIP
	}
	return TemplateConfig{
		SrcIP: src, DstIP: remote,
		TOS: o.TOS, TOSInherit: o.TOSInherit,
		TTL: o.TTL, TTLInherit: o.TTLInherit,
		DF: o.DF, DstPort: o.DstPort, VNI: vni, Csum: o.Csum,
	}
}
