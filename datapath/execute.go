package datapath

import (
	"errors"
	"fmt"
)

// ErrNoBuffer is returned when the packet pool is empty.
var ErrNoBuffer = errors.New("datapath: no free packet buffer")

// Execute runs acts on a copy of frame from the control plane (a
// controller's packet-out), as a PMD would: outputs before the last get
// copies, userspace actions go to the Punter. inPort is the datapath port
// the packet is deemed to have arrived on (0 for none).
func (d *Datapath) Execute(frame []byte, inPort uint32, acts []Action) error {
	pkt := d.pool.Get()
	if pkt == nil {
		return ErrNoBuffer
	}
	if err := pkt.CopyFrom(frame); err != nil {
		d.pool.Put(pkt)
		return fmt.Errorf("datapath: packet-out of %d bytes: %w", len(frame), err)
	}
	pkt.InPort = inPort
	s := d.snap.Load()
	var errs []error
	for i := range acts {
		a := &acts[i]
		switch a.Kind {
		case ActUserspace:
			if d.punter != nil {
				d.punter.Punt(a.Arg, pkt.InPort, pkt.Data())
			}
		case ActTunnelPush:
			out := d.pool.Get()
			if out == nil {
				errs = append(errs, ErrNoBuffer)
				continue
			}
			if out.CopyFrom(pkt.Data()) != nil || !encap(d.tunnelHeader(a.Arg), out, 0, 0) {
				d.pool.Put(out)
				errs = append(errs, errors.New("datapath: packet-out does not fit its tunnel"))
				continue
			}
			if err := d.Inject(a.Port, out); err != nil {
				errs = append(errs, err)
			}
		case ActTunnelPop: // not for packet-outs
		case ActOutput:
			out := pkt
			if i < len(acts)-1 {
				if out = d.pool.Get(); out == nil {
					errs = append(errs, ErrNoBuffer)
					continue
				}
				if err := out.CopyFrom(pkt.Data()); err != nil {
					d.pool.Put(out)
					errs = append(errs, err)
					continue
				}
			}
			if int(a.Port) >= len(s.ports) || s.ports[a.Port] == nil {
				d.pool.Put(out)
				errs = append(errs, fmt.Errorf("datapath: no port %d", a.Port))
				continue
			}
			if err := d.Inject(a.Port, out); err != nil {
				errs = append(errs, err)
			}
			if out == pkt {
				return errors.Join(errs...)
			}
		default:
			if !apply(a, pkt) {
				d.pool.Put(pkt)
				return errors.Join(append(errs, fmt.Errorf("datapath: action %d does not apply to the packet", a.Kind))...)
			}
		}
	}
	d.pool.Put(pkt)
	return errors.Join(errs...)
}
