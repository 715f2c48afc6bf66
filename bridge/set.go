package bridge

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"vswitch/datapath"
	"vswitch/store"
)

// Set changes columns of one record. table is Bridge, Port, Interface or
// Open_vSwitch (record "."). All settings apply in one transaction or none do.
func (s *Switch) Set(table, record string, settings []Setting) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(settings) == 0 {
		return errorf(ErrInvalid, "set %s %s: nothing to set", table, record)
	}
	switch strings.ToLower(table) {
	case "bridge":
		return s.setBridge(record, settings)
	case "port", "interface":
		return s.setPort(strings.ToLower(table), record, settings)
	case "open_vswitch":
		return s.setGlobal(record, settings)
	}
	return errorf(ErrInvalid, "unknown table %q (valid: Bridge, Port, Interface, Open_vSwitch)", table)
}

func setMap(m map[string]string, key, value string) map[string]string {
	m = maps.Clone(m)
	if m == nil {
		m = map[string]string{}
	}
	if value == "" {
		delete(m, key)
	} else {
		m[key] = value
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func unknownColumn(table, col string, valid ...string) error {
	return errorf(ErrInvalid, "table %s has no column %q (valid: %s)", table, col, joinComma(valid))
}

func (s *Switch) setBridge(name string, settings []Setting) error {
	b, err := s.bridge(name)
	if err != nil {
		return err
	}
	failMode, other, dpType := b.failMode, maps.Clone(b.other), b.dpType
	cc, err := s.loadCtlConf(name)
	if err != nil {
		return err
	}
	for _, st := range settings {
		switch {
		case st.Column == "fail_mode" && st.Key == "":
			if st.Value != "" && st.Value != "standalone" && st.Value != "secure" {
				return errorf(ErrInvalid, "bridge %s: fail_mode %q (valid: standalone, secure)", name, st.Value)
			}
			failMode = st.Value
		case st.Column == "datapath_type" && st.Key == "":
			if st.Value != "" && st.Value != "netdev" && st.Value != "system" {
				return errorf(ErrInvalid, "bridge %s: datapath_type %q (valid: netdev, system)", name, st.Value)
			}
			dpType = st.Value
		case st.Column == "other_config" && st.Key != "":
			if st.Key == "mac-aging-time" || st.Key == "mac-table-size" {
				if v, err := strconv.Atoi(st.Value); st.Value != "" && (err != nil || v <= 0) {
					return errorf(ErrInvalid, "bridge %s: other_config:%s must be a positive number", name, st.Key)
				}
			}
			other = setMap(other, st.Key, st.Value)
		case isCtlColumn(st.Column) && st.Key == "":
			if err := cc.set(name, st); err != nil {
				return err
			}
		default:
			return unknownColumn("Bridge", st.Column, "fail_mode", "datapath_type", "controller", "protocols", "other_config:KEY")
		}
	}
	err = s.st.Update(func(c *store.Config) error {
		bc := findBridge(c, name)
		bc.FailMode, bc.OtherConfig, bc.DatapathType = failMode, other, dpType
		cc.save(bc)
		return nil
	})
	if err != nil {
		return err
	}
	oldMode := b.effectiveFailMode()
	b.failMode, b.other, b.dpType = failMode, other, dpType
	b.applyOther()
	if b.effectiveFailMode() != oldMode {
		if err := s.failModeFlows(b); err != nil {
			return err
		}
	}
	s.rebuild()
	return nil
}

func (s *Switch) setPort(table, name string, settings []Setting) error {
	p, ok := s.ports[name]
	if !ok {
		return errorf(ErrNotFound, "no %s named %s", table, name)
	}
	pc := clonePort(p.cfg)
	for _, st := range settings {
		if err := applySetting(table, &pc, st); err != nil {
			return fmt.Errorf("%s %s: %w", table, name, err)
		}
	}
	if p.ofport == ofportLocal && pc.Interface.Type != "internal" {
		return errorf(ErrInvalid, "interface %s is bridge %s's own internal port; its type cannot change", name, p.br.name)
	}
	if err := validatePort(&pc); err != nil {
		return err
	}
	of := p.ofport
	if pc.Interface.OfportRequest != p.cfg.Interface.OfportRequest && p.ofport != ofportLocal {
		var err error
		if of, err = p.br.assignOfport(pc.Interface.OfportRequest, p); err != nil {
			return err
		}
	}
	pc.Interface.Ofport = of
	err := s.st.Update(func(c *store.Config) error {
		bc := findBridge(c, p.br.name)
		for i := range bc.Ports {
			if bc.Ports[i].Name == name {
				bc.Ports[i] = pc
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	old := p.cfg
	p.cfg = pc
	if of != p.ofport {
		p.br.macs.flushPort(p.ofport)
		p.ofport = of
	}
	if old.Interface.Type != pc.Interface.Type || !maps.Equal(old.Interface.Options, pc.Interface.Options) ||
		old.Interface.MTURequest != pc.Interface.MTURequest {
		s.closePort(p)
		p.err = ""
		s.openPort(p)
	}
	s.rebuild()
	return nil
}

func clonePort(p store.Port) store.Port {
	p.Trunks = slices.Clone(p.Trunks)
	p.OtherConfig = maps.Clone(p.OtherConfig)
	p.Interface.Options = maps.Clone(p.Interface.Options)
	p.Interface.ExternalIDs = maps.Clone(p.Interface.ExternalIDs)
	if p.Tag != nil {
		t := *p.Tag
		p.Tag = &t
	}
	return p
}

func emptyValue(v string) bool { v = strings.TrimSpace(v); return v == "" || v == "[]" }

func parseInt(col, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, errorf(ErrInvalid, "%s %q is not a number", col, v)
	}
	if n < lo || n > hi {
		return 0, errorf(ErrInvalid, "%s %d out of range (%d to %d)", col, n, lo, hi)
	}
	return n, nil
}

// applySetting applies one column=value of the Port or Interface table.
func applySetting(table string, pc *store.Port, st Setting) error {
	if table == "port" {
		switch {
		case st.Column == "tag" && st.Key == "":
			if emptyValue(st.Value) {
				pc.Tag = nil
				return nil
			}
			v, err := parseVLAN("tag", st.Value)
			if err != nil {
				return err
			}
			pc.Tag = &v
		case st.Column == "trunks" && st.Key == "":
			t, err := parseTrunks(st.Value)
			if err != nil {
				return err
			}
			pc.Trunks = t
		case st.Column == "vlan_mode" && st.Key == "":
			pc.VlanMode = strings.TrimSpace(st.Value)
		case st.Column == "other_config" && st.Key != "":
			if err := checkPortConfig(st.Key, st.Value); err != nil {
				return err
			}
			pc.OtherConfig = setMap(pc.OtherConfig, st.Key, st.Value)
		default:
			return unknownColumn("Port", st.Column, "tag", "trunks", "vlan_mode", "other_config:KEY")
		}
		return nil
	}
	in := &pc.Interface
	var err error
	switch {
	case st.Column == "type" && st.Key == "":
		in.Type = strings.TrimSpace(st.Value)
		if in.Type == "system" {
			in.Type = ""
		}
	case st.Column == "options" && st.Key != "":
		in.Options = setMap(in.Options, st.Key, st.Value)
	case st.Column == "mtu_request" && st.Key == "":
		in.MTURequest = 0
		if !emptyValue(st.Value) {
			in.MTURequest, err = parseInt("mtu_request", st.Value, 68, 65535)
		}
	case st.Column == "ofport_request" && st.Key == "":
		in.OfportRequest = 0
		if !emptyValue(st.Value) {
			in.OfportRequest, err = parseInt("ofport_request", st.Value, 1, maxOfport)
		}
	case st.Column == "external_ids" && st.Key != "":
		in.ExternalIDs = setMap(in.ExternalIDs, st.Key, st.Value)
	default:
		return unknownColumn("Interface", st.Column, "type", "options:KEY", "mtu_request", "ofport_request", "external_ids:KEY")
	}
	return err
}

// Settings the daemon reads from the Open_vSwitch table at start.
var globalKeys = []string{"emc-insert-inv-prob", "mem", "pmd-cores", "pmd-poll", "pmd-rxq-assign"}

func (s *Switch) setGlobal(record string, settings []Setting) error {
	if record != "." && record != "" {
		return errorf(ErrInvalid, "table Open_vSwitch has one record, \".\"")
	}
	var upd []Setting
	for _, st := range settings {
		if st.Column != "other_config" || st.Key == "" {
			return unknownColumn("Open_vSwitch", st.Column, "other_config:KEY")
		}
		if !slices.Contains(globalKeys, st.Key) {
			return errorf(ErrInvalid, "unknown other_config key %q (valid: %s)", st.Key, joinComma(globalKeys))
		}
		// A value vswitchd would refuse at start must not be stored.
		switch st.Key {
		case "emc-insert-inv-prob":
			if st.Value != "" {
				if _, err := parseInt("other_config:emc-insert-inv-prob", st.Value, 0, 1<<30); err != nil {
					return err
				}
			}
		case "pmd-rxq-assign":
			if _, err := datapath.ParseRxqAssign(st.Value); err != nil {
				return errorf(ErrInvalid, "other_config:%v", err)
			}
		case "pmd-cores":
			if _, err := datapath.ParseCPUList(st.Value); err != nil {
				return errorf(ErrInvalid, "other_config:pmd-cores %q: %v", st.Value, err)
			}
		case "mem":
			if _, err := datapath.ParseSize(st.Value); st.Value != "" && err != nil {
				return errorf(ErrInvalid, "other_config:mem %q: %v", st.Value, err)
			}
		case "pmd-poll":
			if _, err := datapath.ParsePMDPoll(st.Value); st.Value != "" && err != nil {
				return errorf(ErrInvalid, "other_config:pmd-poll %q: %v", st.Value, err)
			}
		}
		upd = append(upd, st)
	}
	// New PMDs can fail to start (no file descriptors left): change them
	// first, so a failure stores nothing, and put them back if the store
	// refuses the update.
	oldCores := s.dp.PMDCores()
	for _, st := range upd {
		if st.Key == "pmd-cores" {
			// Live, as OVS's pmd-cpu-mask; mem waits for a restart.
			cores, _ := datapath.ParseCPUList(st.Value)
			if err := s.dp.SetPMDCores(cores); err != nil {
				s.dp.SetPMDCores(oldCores)
				return errorf(ErrInvalid, "other_config:pmd-cores %q: %v", st.Value, err)
			}
		}
	}
	err := s.st.Update(func(c *store.Config) error {
		for _, st := range upd {
			c.Settings = setMap(c.Settings, st.Key, st.Value)
		}
		return nil
	})
	if err != nil {
		s.dp.SetPMDCores(oldCores)
		return err
	}
	for _, st := range upd {
		switch st.Key {
		case "emc-insert-inv-prob":
			s.dp.SetEMCInsertInvProb(EMCInsertInvProb(st.Value))
		case "pmd-rxq-assign":
			a, _ := datapath.ParseRxqAssign(st.Value)
			s.dp.SetRxqAssign(a)
		case "pmd-poll":
			always, _ := datapath.ParsePMDPoll(st.Value)
			s.dp.SetPollAlways(always)
		}
	}
	return nil
}

// EMCInsertInvProb reads the emc-insert-inv-prob setting as OVS does: a
// hit enters the EMC with probability 1/N, 0 disables, default 100.
func EMCInsertInvProb(v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 100
	}
	return n
}

// Get reads one column ("options:key" for a map key) of a record, formatted
// as ovs-vsctl prints it.
func (s *Switch) Get(table, record, column string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	col, key, hasKey := strings.Cut(column, ":")
	switch strings.ToLower(table) {
	case "bridge":
		b, err := s.bridge(record)
		if err != nil {
			return "", err
		}
		switch col {
		case "name":
			return atom(b.name), nil
		case "fail_mode":
			if b.failMode == "" {
				return "[]", nil
			}
			return atom(b.failMode), nil
		case "datapath_type":
			return atom(b.dpType), nil
		case "other_config":
			return mapValue(b.other, key, hasKey, record, col)
		case "controller", "protocols":
			return s.getCtlColumn(record, col)
		case "ports":
			var names []string
			for _, p := range b.ports {
				names = append(names, p.cfg.Name)
			}
			sort.Strings(names)
			return "[" + strings.Join(names, ", ") + "]", nil
		}
		return "", unknownColumn("Bridge", col, "name", "fail_mode", "datapath_type", "controller", "protocols", "other_config", "ports")
	case "port", "interface":
		p, ok := s.ports[record]
		if !ok {
			return "", errorf(ErrNotFound, "no %s named %s", strings.ToLower(table), record)
		}
		return s.getPortColumn(strings.ToLower(table), p, col, key, hasKey)
	case "open_vswitch":
		c, err := s.st.Load()
		if err != nil {
			return "", err
		}
		if col != "other_config" {
			return "", unknownColumn("Open_vSwitch", col, "other_config")
		}
		return mapValue(c.Settings, key, hasKey, ".", col)
	}
	return "", errorf(ErrInvalid, "unknown table %q (valid: Bridge, Port, Interface, Open_vSwitch)", table)
}

func (s *Switch) getPortColumn(table string, p *port, col, key string, hasKey bool) (string, error) {
	if table == "port" {
		switch col {
		case "name":
			return atom(p.cfg.Name), nil
		case "tag":
			if p.cfg.Tag == nil {
				return "[]", nil
			}
			return strconv.Itoa(*p.cfg.Tag), nil
		case "trunks":
			var t []string
			for _, v := range p.cfg.Trunks {
				t = append(t, strconv.Itoa(v))
			}
			return "[" + strings.Join(t, ", ") + "]", nil
		case "vlan_mode":
			if p.cfg.VlanMode == "" {
				return "[]", nil
			}
			return atom(p.cfg.VlanMode), nil
		case "other_config":
			return mapValue(p.cfg.OtherConfig, key, hasKey, p.cfg.Name, col)
		}
		return "", unknownColumn("Port", col, "name", "tag", "trunks", "vlan_mode", "other_config")
	}
	in := p.cfg.Interface
	switch col {
	case "name":
		return atom(p.cfg.Name), nil
	case "type":
		if in.Type == "" {
			return `""`, nil
		}
		return atom(in.Type), nil
	case "options":
		return mapValue(in.Options, key, hasKey, p.cfg.Name, col)
	case "external_ids":
		return mapValue(in.ExternalIDs, key, hasKey, p.cfg.Name, col)
	case "ofport":
		if p.err != "" && p.dpNo == 0 && in.Type != "patch" {
			return "-1", nil
		}
		return strconv.Itoa(p.ofport), nil
	case "ofport_request":
		if in.OfportRequest == 0 {
			return "[]", nil
		}
		return strconv.Itoa(in.OfportRequest), nil
	case "mtu_request":
		if in.MTURequest == 0 {
			return "[]", nil
		}
		return strconv.Itoa(in.MTURequest), nil
	case "error":
		if p.err == "" {
			return "[]", nil
		}
		return strconv.Quote(p.err), nil
	case "statistics":
		st, _ := s.dp.PortStats(p.dpNo)
		return fmt.Sprintf("{rx_bytes=%d, rx_dropped=%d, rx_errors=%d, rx_packets=%d, tx_bytes=%d, tx_dropped=%d, tx_errors=%d, tx_packets=%d}",
			st.RxBytes, st.RxDropped, st.RxErrors, st.RxPackets, st.TxBytes, st.TxDropped, st.TxErrors, st.TxPackets), nil
	}
	return "", unknownColumn("Interface", col, "name", "type", "options", "external_ids", "ofport", "ofport_request", "mtu_request", "error", "statistics")
}

var bareAtom = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// atom formats a string the way ovsdb prints it: bare when it looks like an
// identifier, quoted otherwise.
func atom(s string) string {
	if bareAtom.MatchString(s) && s != "true" && s != "false" {
		return s
	}
	return strconv.Quote(s)
}

func mapValue(m map[string]string, key string, hasKey bool, record, col string) (string, error) {
	if hasKey {
		v, ok := m[key]
		if !ok {
			return "", errorf(ErrNotFound, "no key %q in %s record %q column %s", key, col, record, col)
		}
		return atom(v), nil
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, atom(k)+"="+atom(m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}", nil
}
