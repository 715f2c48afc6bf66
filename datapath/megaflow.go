package datapath

import (
	"vswitch/flowtable"
)

// megaflow is an installed datapath flow: a masked key in its in_port's
// classifier and the actions the slow path chose for every packet it covers.
type megaflow struct {
	h      flowtable.Handle
	inPort uint32
	gen    uint64 // datapath generation the actions were computed for
	acts   span
	refs   span
	dead   bool

	packets, bytes uint64
	pushedP        uint64 // counts already pushed to refs
	pushedB        uint64
	used           int64 // datapath clock of the last hit
	created        int64
}

// flowTable is one PMD's megaflows: an EMC in front of one classifier per
// in_port, with flows, actions and refs in pointer-free arrays. Only its
// PMD touches it.
type flowTable struct {
	emc   flowtable.EMC
	cls   []*flowtable.Classifier // by datapath port number
	flows []megaflow
	free  []uint32
	// dead flows wait here until the EMC has been swept of them.
	quarantine []uint32
	live       int
	acts       slab[Action]
	refs       slab[uint32]
}

func (t *flowTable) classifier(port uint32) *flowtable.Classifier {
	if int(port) >= len(t.cls) {
		return nil
	}
	return t.cls[port]
}

// install adds a megaflow for key under mask and returns its id.
func (t *flowTable) install(key, mask *flowtable.Key, acts []Action, refs []uint32, gen uint64, now int64) uint32 {
	for int(key.InPort) >= len(t.cls) {
		t.cls = append(t.cls, nil)
	}
	c := t.cls[key.InPort]
	if c == nil {
		c = &flowtable.Classifier{}
		t.cls[key.InPort] = c
	}
	var id uint32
	if n := len(t.free); n > 0 {
		id = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		id = uint32(len(t.flows))
		t.flows = append(t.flows, megaflow{})
	}
	t.flows[id] = megaflow{
		h: c.Insert(mask, key, id), inPort: key.InPort, gen: gen,
		acts: t.acts.put(acts), refs: t.refs.put(refs), used: now, created: now,
	}
	t.live++
	return id
}

// kill removes a megaflow from its classifier; the id is reused only after
// the EMC has been swept.
func (t *flowTable) kill(id uint32) {
	f := &t.flows[id]
	if f.dead {
		return
	}
	t.cls[f.inPort].Remove(f.h)
	t.acts.release(f.acts)
	t.refs.release(f.refs)
	f.dead = true
	f.acts, f.refs = span{}, span{}
	t.quarantine = append(t.quarantine, id)
	t.live--
}

// sweepEMC drops EMC entries of dead flows and frees quarantined ids.
func (t *flowTable) sweepEMC() {
	if len(t.quarantine) == 0 {
		return
	}
	t.emc.Drop(func(v uint32) bool { return t.flows[v-1].dead })
	t.free = append(t.free, t.quarantine...)
	t.quarantine = t.quarantine[:0]
}

// setActions replaces a live flow's actions and refs.
func (t *flowTable) setActions(id uint32, acts []Action, refs []uint32) {
	f := &t.flows[id]
	t.acts.release(f.acts)
	t.refs.release(f.refs)
	f.acts, f.refs = t.acts.put(acts), t.refs.put(refs)
}

// clear removes every megaflow.
func (t *flowTable) clear() {
	for id := range t.flows {
		if !t.flows[id].dead {
			t.kill(uint32(id))
		}
	}
	t.emc.Clear()
	t.free = append(t.free, t.quarantine...)
	t.quarantine = t.quarantine[:0]
}
