package bridge

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"vswitch/datapath"
	"vswitch/flowtable"
	"vswitch/openflow"
)

// DatapathFlowView is one installed megaflow, as dpif/dump-flows prints it.
type DatapathFlowView struct {
	PMD     int
	Match   string // flow syntax with masks; in_port is the OpenFlow port
	Actions string // datapath actions, ports by name
	Packets uint64
	Bytes   uint64
	Used    time.Duration
	Age     time.Duration
}

// DatapathFlows returns the megaflows every PMD has installed for packets
// received on bridge's ports.
func (s *Switch) DatapathFlows(brName string) ([]DatapathFlowView, error) {
	s.mu.Lock()
	b, err := s.bridge(brName)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	byDP := map[uint32]*port{}
	for _, p := range s.ports {
		if p.dpNo != 0 {
			byDP[p.dpNo] = p
		}
	}
	s.mu.Unlock()

	var out []DatapathFlowView
	for _, mf := range s.dp.Megaflows() {
		in := byDP[mf.Key.InPort]
		if in == nil || in.br != b {
			continue
		}
		m := openflow.Match{Key: mf.Key, Mask: mf.Mask}
		m.Key.InPort, m.Mask.InPort = uint32(in.ofport), ^uint32(0)
		flowtable.ApplyMask(&m.Key, &m.Mask)
		out = append(out, DatapathFlowView{
			PMD: mf.PMD, Match: m.Format(portNamer{b}), Actions: formatDPActions(mf.Actions, byDP),
			Packets: mf.Packets, Bytes: mf.Bytes, Used: mf.Used, Age: mf.Age,
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Match < out[j].Match })
	return out, nil
}

func formatDPActions(acts []datapath.Action, byDP map[uint32]*port) string {
	if len(acts) == 0 {
		return "drop"
	}
	parts := make([]string, 0, len(acts))
	for _, a := range acts {
		switch a.Kind {
		case datapath.ActOutput:
			if p := byDP[a.Port]; p != nil {
				parts = append(parts, p.cfg.Name)
			} else {
				parts = append(parts, fmt.Sprint(a.Port))
			}
		case datapath.ActPushVLAN:
			tci := uint16(a.Arg)
			parts = append(parts, fmt.Sprintf("push_vlan(vid=%d,pcp=%d)", tci&0xfff, tci>>13))
		case datapath.ActPopVLAN:
			parts = append(parts, "pop_vlan")
		case datapath.ActSetVLAN:
			tci := uint16(a.Arg)
			parts = append(parts, fmt.Sprintf("set_vlan(vid=%d,pcp=%d)", tci&0xfff, tci>>13))
		case datapath.ActSetEthSrc, datapath.ActSetEthDst:
			var m [6]byte
			for i := 0; i < 6; i++ {
				m[i] = byte(a.Arg >> (40 - 8*i))
			}
			f := "src"
			if a.Kind == datapath.ActSetEthDst {
				f = "dst"
			}
			parts = append(parts, fmt.Sprintf("set(eth(%s=%s))", f, macString(m)))
		case datapath.ActTunnelPush:
			out := fmt.Sprint(a.Port)
			if p := byDP[a.Port]; p != nil {
				out = p.cfg.Name
			}
			parts = append(parts, fmt.Sprintf("tnl_push(header=%d,out=%s)", a.Arg, out))
		case datapath.ActSetTunnel:
			parts = append(parts, fmt.Sprintf("set(tunnel(tun_id=%d,dst=%d.%d.%d.%d))", a.Arg, byte(a.Arg2>>24), byte(a.Arg2>>16), byte(a.Arg2>>8), byte(a.Arg2)))
		case datapath.ActTunnelPop:
			parts = append(parts, fmt.Sprintf("tnl_pop(udp_port=%d,recirc_port=%d)", uint16(a.Arg), a.Port))
		case datapath.ActUserspace:
			parts = append(parts, fmt.Sprintf("userspace(controller,cookie=%d)", a.Arg))
		default:
			parts = append(parts, fmt.Sprintf("action%d", a.Kind))
		}
	}
	return strings.Join(parts, ",")
}

// PMDStats returns each PMD's counters.
func (s *Switch) PMDStats() []datapath.PMDStats { return s.dp.PMDStats() }

// ClearPMDStats zeroes the PMD counters.
func (s *Switch) ClearPMDStats() { s.dp.ClearPMDStats() }
