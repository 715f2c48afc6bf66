package bridge

import (
	"errors"

	"vswitch/datapath"
)

// CapturePort starts a capture of a port's frames; stop it with
// StopCapture.
func (s *Switch) CapturePort(name string, cfg datapath.CaptureConfig) (*datapath.Capture, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.ports[name]
	if !ok {
		return nil, errorf(ErrNotFound, "no port named %s", name)
	}
	if p.dpNo == 0 {
		why := p.err
		if why == "" {
			why = typeName(p.cfg.Interface.Type) + " ports have no frames of their own"
		}
		return nil, errorf(ErrUnavailable, "port %s is not in the datapath: %s", name, why)
	}
	c, err := s.dp.StartCapture(p.dpNo, cfg)
	if errors.Is(err, datapath.ErrCaptureBusy) {
		return nil, errorf(ErrUnavailable, "port %s: %v", name, err)
	}
	return c, err
}

// StopCapture ends a capture.
func (s *Switch) StopCapture(c *datapath.Capture) { s.dp.StopCapture(c) }
