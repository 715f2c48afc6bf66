package datapath

import "sync/atomic"

// Port is what every port backend implements: rx/tx a batch on a queue,
// readiness for parking, stats and close. Methods are called per batch,
// never per packet.
type Port interface {
	// Name is the interface name as configured.
	Name() string
	// RxQueues is the number of rx queues; each is polled by one PMD.
	RxQueues() int
	// Rx appends received packets to b (up to BatchSize), taking buffers
	// from c, and returns how many it added. Only one PMD polls a queue.
	Rx(q int, b *Batch, c *Cache) int
	// Tx sends every packet of b and takes ownership of them: sent or not,
	// they are freed through c. b is left empty. Several PMDs may call Tx
	// concurrently with different q (their PMD index).
	Tx(q int, b *Batch, c *Cache)
	// PollFD returns a file descriptor that becomes readable (EPOLLIN) when
	// rx queue q has packets, or -1 if the queue cannot wake a parked PMD
	// (the PMD then parks for at most a millisecond).
	PollFD(q int) int
	// Stats returns the backend's counters.
	Stats() PortStats
	// Close releases the backend. The datapath calls it only after every
	// PMD has stopped using the port.
	Close() error
}

// SlowPoller is implemented by ports whose rx poll is a system call (tap,
// kernel UDP sockets). While such a queue is empty the PMD polls it at most
// every slowPollGap, so it does not pay a syscall per iteration on the
// path of the ports that are busy.
type SlowPoller interface {
	SlowPoll() bool
}

// StatusReporter is implemented by ports with state worth showing beside
// their counters (OVS's Interface status column): a vhost-user port's
// connection state and negotiated features, for instance.
type StatusReporter interface {
	Status() map[string]string
}

// PortStats are a port's counters, as ovs-ofctl dump-ports shows them.
type PortStats struct {
	RxPackets, RxBytes, RxDropped, RxErrors uint64
	TxPackets, TxBytes, TxDropped, TxErrors uint64
	// RxTruncated counts frames cut short by the backend (e.g. larger than
	// its ring frames); they are also counted in RxDropped.
	RxTruncated uint64
}

// Add sums two stats.
func (s PortStats) Add(o PortStats) PortStats {
	s.RxPackets += o.RxPackets
	s.RxBytes += o.RxBytes
	s.RxDropped += o.RxDropped
	s.RxErrors += o.RxErrors
	s.TxPackets += o.TxPackets
	s.TxBytes += o.TxBytes
	s.TxDropped += o.TxDropped
	s.TxErrors += o.TxErrors
	s.RxTruncated += o.RxTruncated
	return s
}

// Counters are PortStats kept with atomics, for backends to embed.
type Counters struct {
	RxPackets, RxBytes, RxDropped, RxErrors atomic.Uint64
	TxPackets, TxBytes, TxDropped, TxErrors atomic.Uint64
	RxTruncated                             atomic.Uint64
}

// Snapshot reads the counters.
func (c *Counters) Snapshot() PortStats {
	return PortStats{
		RxPackets: c.RxPackets.Load(), RxBytes: c.RxBytes.Load(),
		RxDropped: c.RxDropped.Load(), RxErrors: c.RxErrors.Load(),
		TxPackets: c.TxPackets.Load(), TxBytes: c.TxBytes.Load(),
		TxDropped: c.TxDropped.Load(), TxErrors: c.TxErrors.Load(),
		RxTruncated: c.RxTruncated.Load(),
	}
}
