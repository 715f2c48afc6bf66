package bridge

import (
	"errors"
	"fmt"
	"time"

	"vswitch/datapath"
	"vswitch/openflow"
)

// Error kinds; every error the Switch returns for bad input wraps one of
// these so the API layer can map it to a status code.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrInvalid     = errors.New("invalid argument")
	ErrUnavailable = errors.New("unavailable")
)

// PortSpec describes a port to add: the Port and Interface columns in one.
type PortSpec struct {
	Name          string
	Type          string // "" means system
	Options       map[string]string
	MTURequest    int // 0: unset
	OfportRequest int // 0: unset
	Tag           *int
	Trunks        []int
	VlanMode      string
	ExternalIDs   map[string]string
}

// Setting is one column=value of a `set` command. For map columns
// ("options:key=value") Key names the map key.
type Setting struct {
	Column string
	Key    string
	Value  string
}

// BridgeView is what `show` prints of a bridge.
type BridgeView struct {
	Name         string
	FailMode     string
	DatapathType string
	Ports        []PortView
}

// PortView is what `show` prints of a port.
type PortView struct {
	Name          string
	Ofport        int // OpenFlow port number; -1 when the port is not up
	DPPort        uint32
	Type          string
	Options       map[string]string
	MTURequest    int
	OfportRequest int
	Tag           *int
	Trunks        []int
	VlanMode      string
	Error         string // why the port is not working, if it is not
	Status        map[string]string
	ExternalIDs   map[string]string
	Stats         datapath.PortStats
}

// FDBEntry is one learned MAC address.
type FDBEntry struct {
	Ofport   int
	PortName string
	VLAN     int
	MAC      string
	Age      time.Duration
}

// FlowView is one OpenFlow rule as dump-flows prints it.
type FlowView struct {
	Table    int
	Priority int
	Cookie   uint64
	Duration time.Duration
	Packets  uint64
	Bytes    uint64
	Text     string // "MATCH actions=ACTIONS" in flow syntax, without table/priority/cookie
	// Flow is the whole rule (timeouts, importance, flags too); shared,
	// never to be modified.
	Flow *openflow.Flow
}

// kindError carries a one-line message for the operator and the kind the
// API layer maps to a status code.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
