package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-openvswitch/ovs"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "vswitch/proto/vswitch/v1"
)

func testFlows() []*pb.Flow {
	return []*pb.Flow{
		{Table: 0, Priority: 100, Duration: durationpb.New(12345 * time.Millisecond), NPackets: 7, NBytes: 700,
			Text: "ip,nw_dst=10.0.0.1 actions=drop"},
		{Table: 0, Priority: 32768, Cookie: 0x1f, Duration: durationpb.New(3 * time.Second),
			Text: "in_port=1 actions=output:2"},
		{Table: 1, Priority: 0, Duration: durationpb.New(1500 * time.Millisecond), NPackets: 3, NBytes: 180,
			Text: " actions=NORMAL"},
	}
}

func TestFormatFlows(t *testing.T) {
	var b bytes.Buffer
	formatFlows(&b, testFlows(), true, false)
	want := `NXST_FLOW reply (xid=0x4):
 cookie=0x0, duration=12.345s, table=0, n_packets=7, n_bytes=700, priority=100,ip,nw_dst=10.0.0.1 actions=drop
 cookie=0x1f, duration=3.000s, table=0, n_packets=0, n_bytes=0, in_port=1 actions=output:2
 cookie=0x0, duration=1.500s, table=1, n_packets=3, n_bytes=180, priority=0 actions=NORMAL
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	formatFlows(&b, testFlows(), false, true)
	want = ` priority=100,ip,nw_dst=10.0.0.1 actions=drop
 cookie=0x1f, in_port=1 actions=output:2
 table=1, priority=0 actions=NORMAL
`
	if b.String() != want {
		t.Errorf("--no-stats: got\n%s\nwant\n%s", b.String(), want)
	}
}

// go-openvswitch must parse what dump-flows prints, since programs use its
// ovs.Client against vsctl.
func TestDumpFlowsParsesWithGoOpenvswitch(t *testing.T) {
	var b bytes.Buffer
	formatFlows(&b, testFlows(), true, false)
	var gotArgs []string
	c := ovs.New(ovs.Exec(func(cmd string, args ...string) ([]byte, error) {
		gotArgs = append([]string{cmd}, args...)
		return b.Bytes(), nil
	}))
	flows, err := c.OpenFlow.DumpFlows("br0")
	if err != nil {
		t.Fatalf("DumpFlows: %v", err)
	}
	if strings.Join(gotArgs, " ") != "ovs-ofctl dump-flows br0" {
		t.Errorf("library ran %q", gotArgs)
	}
	if len(flows) != 3 {
		t.Fatalf("got %d flows", len(flows))
	}
	if f := flows[0]; f.Priority != 100 || f.Protocol != ovs.ProtocolIPv4 || f.Stats.PacketCount != 7 || f.Stats.ByteCount != 700 || len(f.Actions) != 1 {
		t.Errorf("flow 0: %+v", f)
	}
	if f := flows[1]; f.Cookie != 0x1f || f.InPort != 1 {
		t.Errorf("flow 1: %+v", f)
	}
	if f := flows[2]; f.Table != 1 || f.Priority != 0 || f.Stats.PacketCount != 3 {
		t.Errorf("flow 2: %+v", f)
	}
	// And the library's own flow text is accepted by our parser as an add-flow argument.
	txt, err := flows[0].MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := parseArgs([]string{"add-flow", "br0", string(txt)}); err != nil {
		t.Errorf("add-flow %s: %v", txt, err)
	}
}

func TestFormatShow(t *testing.T) {
	tag := int32(10)
	var b bytes.Buffer
	formatShow(&b, []*pb.Bridge{{
		Name: "br0", FailMode: "standalone",
		Ports: []*pb.Port{
			{Name: "br0", Ofport: 65534, Type: "internal", Stats: &pb.PortStats{RxPackets: 1, RxBytes: 2}},
			{Name: "p1", Ofport: 1, Tag: &tag, Stats: &pb.PortStats{TxPackets: 5, RxTruncated: 1}},
			{Name: "t1", Ofport: 2, Trunks: []int32{10, 20}, VlanMode: "trunk"},
			{Name: "vx", Ofport: -1, Type: "vxlan", Options: map[string]string{"remote_ip": "192.0.2.1", "key": "flow"},
				Error: "could not open network device vx (No such device)"},
		},
	}})
	want := `    Bridge br0
        fail_mode: standalone
        Port br0
            Interface br0
                type: internal
                ofport: 65534
                statistics: {rx_packets=1, rx_bytes=2, rx_dropped=0, rx_errors=0, tx_packets=0, tx_bytes=0, tx_dropped=0, tx_errors=0, rx_truncated=0}
        Port p1
            tag: 10
            Interface p1
                ofport: 1
                statistics: {rx_packets=0, rx_bytes=0, rx_dropped=0, rx_errors=0, tx_packets=5, tx_bytes=0, tx_dropped=0, tx_errors=0, rx_truncated=1}
        Port t1
            trunks: [10, 20]
            vlan_mode: trunk
            Interface t1
                ofport: 2
                statistics: {rx_packets=0, rx_bytes=0, rx_dropped=0, rx_errors=0, tx_packets=0, tx_bytes=0, tx_dropped=0, tx_errors=0, rx_truncated=0}
        Port vx
            Interface vx
                type: vxlan
                options: {key=flow, remote_ip="192.0.2.1"}
                error: "could not open network device vx (No such device)"
                ofport: -1
                statistics: {rx_packets=0, rx_bytes=0, rx_dropped=0, rx_errors=0, tx_packets=0, tx_bytes=0, tx_dropped=0, tx_errors=0, rx_truncated=0}
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFormatFDB(t *testing.T) {
	var b bytes.Buffer
	formatFDB(&b, []*pb.FdbEntry{
		{Ofport: 1, Vlan: 0, Mac: "50:54:00:00:00:01", Age: durationpb.New(3 * time.Second)},
		{Ofport: 65534, Vlan: 10, Mac: "50:54:00:00:00:02", Age: durationpb.New(125500 * time.Millisecond)},
	})
	want := ` port  VLAN  MAC                Age
    1     0  50:54:00:00:00:01    3
LOCAL    10  50:54:00:00:00:02  125
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFormatDatapathFlows(t *testing.T) {
	flows := []*pb.DatapathFlow{
		{Pmd: 1, Match: "in_port=1,dl_type=0x0800", Actions: "p2", Packets: 3, Bytes: 294, Used: durationpb.New(748900 * time.Microsecond)},
		{Pmd: 0, Match: "in_port=2,dl_type=0x0806", Actions: "p1,br0", Packets: 1, Bytes: 42, Used: durationpb.New(12 * time.Second)},
		{Pmd: 2, Match: "in_port=2,dl_type=0x86dd"},
		{Pmd: 0, Match: "in_port=1,dl_type=0x0806", Actions: "drop"},
	}
	var b bytes.Buffer
	formatDatapathFlows(&b, flows[:1], nil)
	if want := "in_port=1,dl_type=0x0800, packets:3, bytes:294, used:0.748s, actions:p2\n"; b.String() != want {
		t.Errorf("one PMD: got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	formatDatapathFlows(&b, flows, map[int32]int32{0: 1, 1: 3, 2: -1})
	want := `pmd thread core_id 1:
in_port=2,dl_type=0x0806, packets:1, bytes:42, used:12.000s, actions:p1,br0
in_port=1,dl_type=0x0806, packets:0, bytes:0, used:never, actions:drop
pmd thread core_id 3:
in_port=1,dl_type=0x0800, packets:3, bytes:294, used:0.748s, actions:p2
pmd thread core_id unpinned (pmd 2):
in_port=2,dl_type=0x86dd, packets:0, bytes:0, used:never, actions:drop
`
	if b.String() != want {
		t.Errorf("several PMDs: got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestTraceRule(t *testing.T) {
	for in, want := range map[string]string{
		"priority=100,icmp":                       "icmp, priority 100",
		"icmp,priority=100":                       "icmp, priority 100",
		"priority=0":                              "priority 0",
		"ip,nw_dst=10.0.0.0/8":                    "ip,nw_dst=10.0.0.0/8, priority 32768",
		"cookie=0x0,priority=5,in_port=1":         "in_port=1, priority 5",
		"cookie=0x1f,priority=5,reg0=0x1/0x1,tcp": "reg0=0x1/0x1,tcp, priority 5, cookie 0x1f",
	} {
		if got := traceRule(in); got != want {
			t.Errorf("traceRule(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitActions(t *testing.T) {
	got := splitActions("load:0x1->NXM_NX_REG0[0..3], resubmit(,1),set_field:10.0.0.1->nw_dst,learn(table=1,priority=2),output:2,")
	want := []string{"load:0x1->NXM_NX_REG0[0..3]", "resubmit(,1)", "set_field:10.0.0.1->nw_dst", "learn(table=1,priority=2)", "output:2"}
	if !slices.Equal(got, want) {
		t.Errorf("splitActions = %q, want %q", got, want)
	}
	if got := splitActions(""); len(got) != 0 {
		t.Errorf("splitActions(\"\") = %q", got)
	}
}

// A trace that visited no table still names the bridge, and empty
// datapath actions print as drop.
func TestFormatTraceEmpty(t *testing.T) {
	var b strings.Builder
	formatTrace(&b, "br0", &pb.TraceResponse{Flow: "in_port=1", Megaflow: "in_port=1"})
	want := "Flow: in_port=1\n\nbridge(\"br0\")\n-------------\n\nMegaflow: in_port=1\nDatapath actions: drop\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
