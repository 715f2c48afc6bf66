package api

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "vswitch/proto/vswitch/v1"
)

// SetConfig maps each typed field to the column or other_config key vsctl
// sets, global settings in one Set and the bridge's in another, and a bad
// field reaches the switch not at all.
func TestSetConfigSettings(t *testing.T) {
	fake := newFake()
	fake.bridges = []string{"br0"}
	sock, _ := serve(t, fake)
	c := connect(t, sock)
	ctx := context.Background()
	secure := pb.FailMode_FAIL_MODE_SECURE
	_, err := c.SetConfig(ctx, &pb.SetConfigRequest{
		Global: &pb.GlobalConfig{PmdCores: proto.String("0"), EmcInsertInvProb: u32p(0)},
		Bridge: "br0", BridgeConfig: &pb.BridgeConfig{MacAgingTime: u32p(45), FailMode: &secure},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(fake.sets)
	want := "[[{other_config pmd-cores 0} {other_config emc-insert-inv-prob 0}] [{other_config mac-aging-time 45} {fail_mode  secure}]]"
	if got != want {
		t.Errorf("settings %s, want %s", got, want)
	}
	calls := fake.callLog()
	if len(calls) != 3 || calls[1] != "Set Open_vSwitch ." || calls[2] != "Set Bridge br0" {
		t.Errorf("calls %q", calls)
	}

	fake.sets = nil
	for _, tc := range []struct {
		req  *pb.SetConfigRequest
		want string
	}{
		{&pb.SetConfigRequest{Global: &pb.GlobalConfig{PmdCores: proto.String("0,x")}}, "global.pmd_cores"},
		{&pb.SetConfigRequest{Global: &pb.GlobalConfig{PmdCores: proto.String("4096")}}, "global.pmd_cores \"4096\": CPU 4096 does not exist"},
		{&pb.SetConfigRequest{Global: &pb.GlobalConfig{EmcInsertInvProb: u32p(1 << 31)}}, "global.emc_insert_inv_prob"},
		{&pb.SetConfigRequest{Bridge: "br0", BridgeConfig: &pb.BridgeConfig{FailMode: pb.FailMode(3).Enum()}}, "bridge_config.fail_mode: unknown value 3"},
		{&pb.SetConfigRequest{Bridge: "br0", BridgeConfig: &pb.BridgeConfig{MacAgingTime: u32p(1 << 31)}}, "bridge_config.mac_aging_time"},
		{&pb.SetConfigRequest{Bridge: "br 0", BridgeConfig: &pb.BridgeConfig{MacAgingTime: u32p(1)}}, "bridge"},
		{&pb.SetConfigRequest{Bridge: "br0"}, "bridge_config is required"},
		{&pb.SetConfigRequest{Global: &pb.GlobalConfig{}}, "nothing to set"},
	} {
		_, err := c.SetConfig(ctx, tc.req)
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.want) {
			t.Errorf("%v: got %v %q, want InvalidArgument containing %q", tc.req, st.Code(), st.Message(), tc.want)
		}
	}
	_, err = c.SetConfig(ctx, &pb.SetConfigRequest{Global: &pb.GlobalConfig{EmcInsertInvProb: u32p(5)},
		Bridge: "nope", BridgeConfig: &pb.BridgeConfig{MacAgingTime: u32p(1)}})
	if status.Code(err) != codes.NotFound {
		t.Errorf("missing bridge: %v", err)
	}
	if len(fake.sets) != 0 {
		t.Errorf("refused requests reached Set: %v", fake.sets)
	}
}

func TestUnatom(t *testing.T) {
	for in, want := range map[string]string{`"2,3"`: "2,3", "secure": "secure", `"100"`: "100", "[]": "[]"} {
		if got := unatom(in); got != want {
			t.Errorf("unatom(%s) = %q, want %q", in, got, want)
		}
	}
}
