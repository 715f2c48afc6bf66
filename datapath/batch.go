package datapath

// BatchSize is the largest number of packets moved in one rx burst.
const BatchSize = 32

// Batch is a fixed array of packet pointers, reused across iterations.
type Batch struct {
	N    int
	Pkts [BatchSize]*Packet
}

// Add appends a packet; it returns false when the batch is full.
func (b *Batch) Add(p *Packet) bool {
	if b.N == BatchSize {
		return false
	}
	b.Pkts[b.N] = p
	b.N++
	return true
}

// Full reports whether the batch holds BatchSize packets.
func (b *Batch) Full() bool { return b.N == BatchSize }

// Clear forgets the packets without freeing them.
func (b *Batch) Clear() {
	for i := 0; i < b.N; i++ {
		b.Pkts[i] = nil
	}
	b.N = 0
}

// Packets returns the filled part of the batch.
func (b *Batch) Packets() []*Packet { return b.Pkts[:b.N] }
