package datapath

import "math/bits"

// span locates a run of elements in a slab.
type span struct{ off, n uint32 }

// slab stores variable-length runs of pointer-free values in one array with
// power-of-two size classes and per-class free lists, so megaflow actions
// cost the garbage collector nothing and are reused without allocation.
type slab[T any] struct {
	data []T
	free [32][]uint32
}

func sizeClass(n int) int {
	if n <= 4 {
		return 2
	}
	return bits.Len(uint(n - 1))
}

// put stores vals and returns their span.
func (s *slab[T]) put(vals []T) span {
	if len(vals) == 0 {
		return span{}
	}
	c := sizeClass(len(vals))
	var off uint32
	if f := s.free[c]; len(f) > 0 {
		off = f[len(f)-1]
		s.free[c] = f[:len(f)-1]
	} else {
		off = uint32(len(s.data))
		s.data = append(s.data, make([]T, 1<<c)...)
	}
	copy(s.data[off:], vals)
	return span{off, uint32(len(vals))}
}

// get returns the values of sp.
func (s *slab[T]) get(sp span) []T { return s.data[sp.off : sp.off+sp.n : sp.off+sp.n] }

// release frees sp for reuse.
func (s *slab[T]) release(sp span) {
	if sp.n == 0 {
		return
	}
	c := sizeClass(int(sp.n))
	s.free[c] = append(s.free[c], sp.off)
}
