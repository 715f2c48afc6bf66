package bridge

// The ovs-ofctl surface beyond add/del/dump-flows. (Bodies in progress.)

// TableView is one OpenFlow table as dump-tables prints it.
type TableView struct {
	Table   int
	Active  int    // rules installed
	Lookups uint64 // translations that looked in the table
	Matched uint64 // of which found a rule
}

// TraceStep is one table visit of a trace.
type TraceStep struct {
	Depth   int    // resubmit/patch nesting
	Bridge  string // bridge the table belongs to
	Table   int
	Rule    string // the matching rule in flow syntax (priority, match), "" on a miss
	Actions string // its actions
	Note    string // e.g. "no match: drop", "NORMAL: learned 02:.. on port 1, output to 2"
}

// TraceView is what ofproto/trace prints.
type TraceView struct {
	Flow            string // the flow traced, normalized
	Steps           []TraceStep
	DatapathActions string
	Megaflow        string // the megaflow match the translation would install
}

// RxqView is one rx queue's assignment (pmd-rxq-show).
type RxqView struct {
	PMD, Core int
	Port      string
	Queue     int
}

// AddFlows adds several rules in one transaction (add-flows): if any line
// is bad, none is added.
func (s *Switch) AddFlows(bridge string, flows []string) error { return errorf(ErrUnavailable, "in progress") }

// ModFlows replaces the actions of the rules flow's match selects
// (mod-flows), strictly (same priority and match) or not.
func (s *Switch) ModFlows(bridge, flow string, strict bool) error {
	return errorf(ErrUnavailable, "in progress")
}

// ReplaceFlows makes flows the bridge's whole rule set, in one transaction.
func (s *Switch) ReplaceFlows(bridge string, flows []string) error {
	return errorf(ErrUnavailable, "in progress")
}

// DumpPorts returns the counters of a bridge's ports, or of one port.
func (s *Switch) DumpPorts(bridge, port string) ([]PortView, error) {
	return nil, errorf(ErrUnavailable, "in progress")
}

// DumpTables returns the tables of a bridge that hold rules or were used.
func (s *Switch) DumpTables(bridge string) ([]TableView, error) {
	return nil, errorf(ErrUnavailable, "in progress")
}

// DumpAggregate sums the counters of the rules match selects.
func (s *Switch) DumpAggregate(bridge, match string) (packets, bytes uint64, flows int, err error) {
	return 0, 0, 0, errorf(ErrUnavailable, "in progress")
}

// Trace translates a packet described in flow syntax ("in_port=1,tcp,
// tp_dst=80", fields not given are zero) through the bridge's pipeline
// without forwarding anything.
func (s *Switch) Trace(bridge, flow string) (*TraceView, error) {
	return nil, errorf(ErrUnavailable, "in progress")
}

// PMDRxqs returns which PMD polls which rx queue.
func (s *Switch) PMDRxqs() []RxqView { return nil }
