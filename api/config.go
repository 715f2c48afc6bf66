package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"vswitch/bridge"
	"vswitch/datapath"
	pb "vswitch/proto/vswitch/v1"
)

// Typed switch configuration. Each field maps to the column or
// other_config key vsctl sets, through the same Set and Get calls, so the
// store, the Watch events and `vsctl get` see one truth.

const (
	keyPMDCores   = "pmd-cores"
	keyEMCInvProb = "emc-insert-inv-prob"
	keyMACAging   = "mac-aging-time"
	maxEMCInvProb = 1 << 30 // the bridge layer's limit
	maxMACAging   = 1<<31 - 1
)

var failModes = map[pb.FailMode]string{
	pb.FailMode_FAIL_MODE_UNSPECIFIED: "",
	pb.FailMode_FAIL_MODE_STANDALONE:  "standalone",
	pb.FailMode_FAIL_MODE_SECURE:      "secure",
}

// checkCPUList validates a pmd-cores value the way vswitchd reads it
// ("1", "0,2", "2-5").
func checkCPUList(field, s string) error {
	if _, err := datapath.ParseCPUList(s); err != nil {
		return invalid("%s %q: %v", field, s, err)
	}
	return nil
}

// unatom undoes the ovsdb quoting Get applies to values that do not look
// like identifiers ("2,3" comes back as "\"2,3\"").
func unatom(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// getKey reads one other_config key; ok is false when it is not set.
func (s *service) getKey(table, record, key string) (v string, ok bool, err error) {
	v, err = s.sw.Get(table, record, "other_config:"+key)
	if errors.Is(err, bridge.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return unatom(v), true, nil
}

func (s *service) GetConfig(_ context.Context, r *pb.GetConfigRequest) (*pb.GetConfigResponse, error) {
	if r.GetBridge() != "" {
		if err := checkName("bridge", r.GetBridge()); err != nil {
			return nil, err
		}
	}
	resp := &pb.GetConfigResponse{Global: &pb.GlobalConfig{}}
	if v, ok, err := s.getKey("Open_vSwitch", ".", keyPMDCores); err != nil {
		return nil, toStatus(err)
	} else if ok {
		resp.Global.PmdCores = &v
	}
	if v, ok, err := s.getKey("Open_vSwitch", ".", keyEMCInvProb); err != nil {
		return nil, toStatus(err)
	} else if ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, toStatus(fmt.Errorf("stored other_config:%s %q is not a number", keyEMCInvProb, v))
		}
		resp.Global.EmcInsertInvProb = u32p(uint32(n))
	}
	if r.GetBridge() == "" {
		return resp, nil
	}
	// fail_mode first: it fails with NotFound when the bridge is missing,
	// so a NotFound for the other_config key below means "not set".
	fm, err := s.sw.Get("Bridge", r.GetBridge(), "fail_mode")
	if err != nil {
		return nil, toStatus(err)
	}
	bc := &pb.BridgeConfig{}
	if fm = unatom(fm); fm != "[]" && fm != "" {
		for e, name := range failModes {
			if name == fm {
				bc.FailMode = &e
			}
		}
		if bc.FailMode == nil {
			return nil, toStatus(fmt.Errorf("bridge %s has an unknown fail_mode %q", r.GetBridge(), fm))
		}
	}
	if v, ok, err := s.getKey("Bridge", r.GetBridge(), keyMACAging); err != nil {
		return nil, toStatus(err)
	} else if ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, toStatus(fmt.Errorf("bridge %s: stored other_config:%s %q is not a number", r.GetBridge(), keyMACAging, v))
		}
		bc.MacAgingTime = u32p(uint32(n))
	}
	resp.BridgeConfig = bc
	return resp, nil
}

func (s *service) SetConfig(_ context.Context, r *pb.SetConfigRequest) (*pb.SetConfigResponse, error) {
	g, bc := r.GetGlobal(), r.GetBridgeConfig()
	var global, br []bridge.Setting
	if g != nil {
		if g.PmdCores != nil {
			if err := checkCPUList("global.pmd_cores", g.GetPmdCores()); err != nil {
				return nil, err
			}
			global = append(global, bridge.Setting{Column: "other_config", Key: keyPMDCores, Value: strings.TrimSpace(g.GetPmdCores())})
		}
		if g.EmcInsertInvProb != nil {
			if v := g.GetEmcInsertInvProb(); v > maxEMCInvProb {
				return nil, invalid("global.emc_insert_inv_prob %d is out of range 0..%d", v, maxEMCInvProb)
			}
			global = append(global, bridge.Setting{Column: "other_config", Key: keyEMCInvProb, Value: strconv.FormatUint(uint64(g.GetEmcInsertInvProb()), 10)})
		}
	}
	if bc != nil {
		if err := checkName("bridge", r.GetBridge()); err != nil {
			return nil, err
		}
		if bc.MacAgingTime != nil {
			v := bc.GetMacAgingTime()
			if v > maxMACAging {
				return nil, invalid("bridge_config.mac_aging_time %d is out of range 0..%d", v, maxMACAging)
			}
			val := ""
			if v > 0 {
				val = strconv.FormatUint(uint64(v), 10)
			}
			br = append(br, bridge.Setting{Column: "other_config", Key: keyMACAging, Value: val})
		}
		if bc.FailMode != nil {
			mode, ok := failModes[bc.GetFailMode()]
			if !ok {
				return nil, invalid("bridge_config.fail_mode: unknown value %d", int32(bc.GetFailMode()))
			}
			br = append(br, bridge.Setting{Column: "fail_mode", Value: mode})
		}
	} else if r.GetBridge() != "" {
		return nil, invalid("bridge_config is required when bridge is given")
	}
	if len(global) == 0 && len(br) == 0 {
		return nil, invalid("nothing to set: give global or bridge_config fields")
	}
	// The bridge must exist before the global half is written, so that a
	// typo in its name changes nothing.
	if len(br) > 0 && !slices.Contains(s.sw.ListBridges(), r.GetBridge()) {
		return nil, toStatus(fmt.Errorf("%w: no bridge named %s", bridge.ErrNotFound, r.GetBridge()))
	}
	if len(global) > 0 {
		if err := s.sw.Set("Open_vSwitch", ".", global); err != nil {
			return nil, toStatus(err)
		}
	}
	if len(br) > 0 {
		if err := s.sw.Set("Bridge", r.GetBridge(), br); err != nil {
			return nil, toStatus(err)
		}
	}
	return &pb.SetConfigResponse{}, nil
}
