package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/digitalocean/go-openvswitch/ovs"
)

// Programs written against go-openvswitch's ovs.Client drive vswitch when
// its ovs-vsctl / ovs-ofctl / ovs-appctl calls are pointed at vsctl: the
// library builds the command lines and parses the output, so this checks
// both directions of compatibility, and that OpenFlow rules steer traffic.
func TestGoOpenvswitchClient(t *testing.T) {
	requireE2E(t, "ping")
	d := startDaemon(t)
	c := ovs.New(ovs.Exec(func(cmd string, args ...string) ([]byte, error) {
		switch cmd {
		case "ovs-vsctl", "ovs-ofctl", "ovs-appctl":
		default:
			return nil, fmt.Errorf("unexpected command %s", cmd)
		}
		r := d.VsctlErr(args...)
		t.Logf("%s %s -> exit %d", cmd, strings.Join(args, " "), r.Code)
		if r.Code != 0 {
			return []byte(r.Stdout), fmt.Errorf("%s %s: %s", cmd, strings.Join(args, " "), strings.TrimSpace(r.Stderr))
		}
		return []byte(r.Stdout), nil
	}))

	br := uniq("bro", 6)
	d.trackLink(br)
	if err := c.VSwitch.AddBridge(br); err != nil {
		t.Fatal(err)
	}
	if brs, err := c.VSwitch.ListBridges(); err != nil || !slices.Contains(brs, br) {
		t.Fatalf("ListBridges = %v, %v; want %s in it", brs, err, br)
	}
	net := subnet()
	h1 := newHost(t, net+".1/24")
	h2 := newHost(t, net+".2/24")
	for _, h := range []*Host{h1, h2} {
		if err := c.VSwitch.AddPort(br, h.Port); err != nil {
			t.Fatal(err)
		}
		d.WaitPortUp(h.Port)
	}
	ports, err := c.VSwitch.ListPorts(br)
	if err != nil || len(ports) != 2 || !slices.Contains(ports, h1.Port) || !slices.Contains(ports, h2.Port) {
		t.Fatalf("ListPorts = %v, %v; want %s and %s", ports, err, h1.Port, h2.Port)
	}
	if got, err := c.VSwitch.PortToBridge(h2.Port); err != nil || got != br {
		t.Fatalf("PortToBridge(%s) = %q, %v; want %s", h2.Port, got, err, br)
	}

	flows, err := c.OpenFlow.DumpFlows(br)
	if err != nil {
		t.Fatalf("DumpFlows: %v", err)
	}
	if !hasFlow(flows, 0, "normal") {
		t.Fatalf("DumpFlows lacks priority=0 actions=NORMAL: %s", flowTexts(flows))
	}
	pingOK(t, h1, h2.IP)

	// A higher-priority drop for ICMP from h1 cuts ping and counts packets.
	in1 := d.Ofport(h1.Port)
	drop := &ovs.Flow{Priority: 200, Protocol: ovs.ProtocolICMPv4, InPort: in1, Actions: []ovs.Action{ovs.Drop()}}
	if err := c.OpenFlow.AddFlow(br, drop); err != nil {
		t.Fatalf("AddFlow: %v", err)
	}
	pingFails(t, h1, h2.IP)
	flows, err = c.OpenFlow.DumpFlows(br)
	if err != nil {
		t.Fatalf("DumpFlows: %v", err)
	}
	var hits uint64
	for _, f := range flows {
		if f.Priority == 200 {
			hits = f.Stats.PacketCount
		}
	}
	if hits == 0 {
		t.Fatalf("drop flow not hit (n_packets 0) after pings: %s", flowTexts(flows))
	}
	t.Logf("drop flow n_packets=%d", hits)

	if err := c.OpenFlow.DelFlows(br, &ovs.MatchFlow{Protocol: ovs.ProtocolICMPv4, InPort: in1}); err != nil {
		t.Fatalf("DelFlows: %v", err)
	}
	pingOK(t, h1, h2.IP)

	if err := c.VSwitch.DeletePort(br, h2.Port); err != nil {
		t.Fatal(err)
	}
	if ports, _ := c.VSwitch.ListPorts(br); slices.Contains(ports, h2.Port) {
		t.Fatalf("ListPorts after DeletePort = %v", ports)
	}
	pingFails(t, h1, h2.IP)
	if err := c.VSwitch.DeleteBridge(br); err != nil {
		t.Fatal(err)
	}
	if brs, _ := c.VSwitch.ListBridges(); slices.Contains(brs, br) {
		t.Fatalf("ListBridges after DeleteBridge = %v", brs)
	}
}

func hasFlow(flows []*ovs.Flow, prio int, action string) bool {
	for _, f := range flows {
		if f.Priority != prio || len(f.Actions) != 1 {
			continue
		}
		if a, err := f.Actions[0].MarshalText(); err == nil && strings.EqualFold(string(a), action) {
			return true
		}
	}
	return false
}

func flowTexts(flows []*ovs.Flow) string {
	var s []string
	for _, f := range flows {
		b, err := f.MarshalText()
		if err != nil {
			b = []byte(err.Error())
		}
		s = append(s, string(b))
	}
	return strings.Join(s, "\n")
}
