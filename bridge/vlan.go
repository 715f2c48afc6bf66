package bridge

import (
	"strconv"
	"strings"

	"vswitch/flowtable"
)

// VLAN modes, as OVS's Port vlan_mode column names them.
const (
	modeTrunk          = "trunk"
	modeAccess         = "access"
	modeNativeTagged   = "native-tagged"
	modeNativeUntagged = "native-untagged"
)

var vlanModes = []string{modeAccess, modeNativeTagged, modeNativeUntagged, modeTrunk}

// vlanSet is a bitset of VLAN IDs 0-4095.
type vlanSet [64]uint64

func (s *vlanSet) add(v uint16)      { s[v>>6] |= 1 << (v & 63) }
func (s *vlanSet) has(v uint16) bool { return s[v>>6]&(1<<(v&63)) != 0 }

// portVLAN is a port's VLAN configuration compiled for translation.
type portVLAN struct {
	mode   string
	tag    uint16
	trunks vlanSet // every VLAN when the trunks column is empty
}

func compileVLAN(tag *int, trunks []int, mode string) portVLAN {
	pv := portVLAN{mode: mode}
	if tag != nil {
		pv.tag = uint16(*tag)
	}
	if pv.mode == "" {
		pv.mode = modeTrunk
		if tag != nil {
			pv.mode = modeAccess
		}
	}
	if len(trunks) == 0 {
		for i := range pv.trunks {
			pv.trunks[i] = ^uint64(0)
		}
	}
	for _, t := range trunks {
		pv.trunks.add(uint16(t))
	}
	return pv
}

// carries reports whether the port is a member of VLAN v.
func (pv *portVLAN) carries(v uint16) bool {
	switch pv.mode {
	case modeAccess:
		return v == pv.tag
	case modeTrunk:
		return pv.trunks.has(v)
	default:
		return v == pv.tag || pv.trunks.has(v)
	}
}

// input maps a received packet's outer TCI to the VLAN it belongs to;
// ok is false when the port must drop it.
func (pv *portVLAN) input(tci uint16) (vlan uint16, ok bool) {
	vid := tci & 0x0fff
	tagged := tci&flowtable.TCIPresent != 0 && vid != 0
	switch pv.mode {
	case modeAccess:
		return pv.tag, !tagged
	case modeTrunk:
		if !tagged {
			vid = 0
		}
		return vid, pv.trunks.has(vid)
	default:
		if !tagged {
			return pv.tag, true
		}
		return vid, vid == pv.tag || pv.trunks.has(vid)
	}
}

// output is the outer TCI a packet of VLAN v leaves this port with (0: untagged).
func (pv *portVLAN) output(v uint16, pcp uint16) uint16 {
	switch {
	case pv.mode == modeAccess, v == 0:
		return 0
	case pv.mode == modeNativeUntagged && v == pv.tag:
		return 0
	}
	return flowtable.TCIPresent | pcp<<13 | v
}

// parseTrunks reads "10,20", "[10,20]" or "10 20".
func parseTrunks(s string) ([]int, error) {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		v, err := parseVLAN("trunks", f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func parseVLAN(col, s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, errorf(ErrInvalid, "%s %q is not a number", col, s)
	}
	if v < 0 || v > 4095 {
		return 0, errorf(ErrInvalid, "%s %d out of range (0 to 4095)", col, v)
	}
	return v, nil
}
