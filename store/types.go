package store

// SchemaVersion is written into every new store; Open refuses a store
// written by a newer schema.
const SchemaVersion = 3

// Config is the whole persistent configuration of one vswitchd.
type Config struct {
	// Settings are daemon-wide settings (the Open_vSwitch table's
	// other_config in OVS terms): "pmd-cores", "mem", "pmd-poll", ...
	Settings map[string]string `json:"settings,omitempty"`
	// Bridges sorted by name.
	Bridges []Bridge `json:"-"`
}

// Bridge is one bridge and everything it owns.
type Bridge struct {
	Name        string            `json:"name"`
	FailMode    string            `json:"fail_mode,omitempty"` // "standalone" (default) or "secure"
	OtherConfig map[string]string `json:"other_config,omitempty"`
	// Controllers are the controller targets set-controller configured
	// (e.g. "tcp:10.0.0.1:6653"); schema 2.
	Controllers []string `json:"controllers,omitempty"`
	// Protocols are the OpenFlow versions allowed (e.g. "OpenFlow13"); schema 2.
	Protocols []string `json:"protocols,omitempty"`
	// DatapathType is the datapath_type column ("netdev", "system" or ""):
	// stored and shown for OVS tools (os-vif sets it); one datapath serves all.
	DatapathType string `json:"datapath_type,omitempty"`
	// Ports in the order they were added.
	Ports []Port `json:"-"`
	// Flows are OpenFlow rules in ovs-ofctl flow syntax, in the order they
	// were added (a new standalone bridge starts with "priority=0,actions=NORMAL").
	// Load fills them; Update passes them empty and writes them only for a
	// bridge it creates: after that flows change through UpdateFlows, so a
	// flow-mod never reads or rewrites the whole rule set.
	Flows []string `json:"-"`
	// FlowIDs are the stable store ids of Flows (same index, never 0), as
	// Load returns them; UpdateFlows names flows by these ids. Schema 3.
	FlowIDs []uint64 `json:"-"`
}

// Flow is one stored OpenFlow rule: its id within its bridge (not 0) and
// its text.
type Flow struct {
	ID   uint64
	Text string
}

// FlowChange is the flow delta of one bridge: Delete removes flows by id
// (absent ids are ignored), then Put writes each flow under its id, adding
// it or replacing the text stored there.
type FlowChange struct {
	Bridge string
	Delete []uint64
	Put    []Flow
}

// Port is a bridge port with its single interface.
type Port struct {
	Name        string            `json:"name"`
	Tag         *int              `json:"tag,omitempty"`
	Trunks      []int             `json:"trunks,omitempty"`
	VlanMode    string            `json:"vlan_mode,omitempty"`
	OtherConfig map[string]string `json:"other_config,omitempty"`
	Interface   Interface         `json:"interface"`
}

// Interface is the device behind a port.
type Interface struct {
	Type          string            `json:"type,omitempty"` // "" means system
	Options       map[string]string `json:"options,omitempty"`
	MTURequest    int               `json:"mtu_request,omitempty"`
	OfportRequest int               `json:"ofport_request,omitempty"`
	// Ofport is the OpenFlow port number assigned to the interface; it is
	// stored so numbers survive restarts.
	Ofport      int               `json:"ofport,omitempty"`
	ExternalIDs map[string]string `json:"external_ids,omitempty"`
}
