package bridge

// TEMPORARY signatures: bodies are being written; the API layer codes against these.

// Switch is every bridge of one vswitchd over one datapath.
type Switch struct{}

// AddBridge creates a bridge with its internal port (LOCAL) and, in
// standalone fail mode, the priority=0,actions=NORMAL flow.
func (s *Switch) AddBridge(name string, mayExist bool) error { panic("todo") }

// DelBridge deletes a bridge and all its ports.
func (s *Switch) DelBridge(name string, ifExists bool) error { panic("todo") }

// ListBridges returns bridge names, sorted.
func (s *Switch) ListBridges() []string { panic("todo") }

// AddPort adds a port (and its interface) to a bridge in one transaction.
func (s *Switch) AddPort(bridge string, spec PortSpec, mayExist bool) error { panic("todo") }

// DelPort deletes a port; bridge may be "" to mean whichever bridge has it.
func (s *Switch) DelPort(bridge, port string, ifExists bool) error { panic("todo") }

// ListPorts returns the ports of a bridge (without the bridge's own internal port), sorted.
func (s *Switch) ListPorts(bridge string) ([]string, error) { panic("todo") }

// PortToBridge names the bridge that has port.
func (s *Switch) PortToBridge(port string) (string, error) { panic("todo") }

// Set changes columns of one record. table is Bridge, Port, Interface or
// Open_vSwitch (record "."). All settings apply in one transaction or none do.
func (s *Switch) Set(table, record string, settings []Setting) error { panic("todo") }

// Get reads one column ("options:key" for a map key) of a record, formatted
// as ovs-vsctl prints it.
func (s *Switch) Get(table, record, column string) (string, error) { panic("todo") }

// Show returns every bridge with its ports and counters.
func (s *Switch) Show() []BridgeView { panic("todo") }

// FDB returns the MAC learning table of a bridge.
func (s *Switch) FDB(bridge string) ([]FDBEntry, error) { panic("todo") }

// FlushFDB empties the MAC table of a bridge, or of all bridges if bridge is "".
func (s *Switch) FlushFDB(bridge string) error { panic("todo") }

// AddFlow adds (or replaces, same match and priority) an OpenFlow rule.
func (s *Switch) AddFlow(bridge, flow string) error { panic("todo") }

// DelFlows deletes the rules matching match ("" deletes all); strict also
// requires equal priority and match.
func (s *Switch) DelFlows(bridge, match string, strict bool) error { panic("todo") }

// DumpFlows returns a bridge's rules in table, priority order.
func (s *Switch) DumpFlows(bridge string) ([]FlowView, error) { panic("todo") }
