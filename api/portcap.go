package api

import (
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"vswitch/bridge"
	"vswitch/datapath"
	pb "vswitch/proto/vswitch/v1"
)

type captureAPI interface {
	CapturePort(port string, cfg datapath.CaptureConfig) (*datapath.Capture, error)
	StopCapture(c *datapath.Capture)
}

var _ captureAPI = (*bridge.Switch)(nil)

// Capture streams a port's frames until count frames were sent or the
// client goes away.
func (s *service) Capture(req *pb.CaptureRequest, stream pb.Vswitch_CaptureServer) error {
	if req.Port == "" {
		return status.Error(codes.InvalidArgument, "port: empty port name")
	}
	var dirs uint8
	switch req.Direction {
	case pb.CaptureDirection_CAPTURE_DIRECTION_UNSPECIFIED, pb.CaptureDirection_CAPTURE_DIRECTION_BOTH:
		dirs = datapath.CaptureRx | datapath.CaptureTx
	case pb.CaptureDirection_CAPTURE_DIRECTION_RX:
		dirs = datapath.CaptureRx
	case pb.CaptureDirection_CAPTURE_DIRECTION_TX:
		dirs = datapath.CaptureTx
	default:
		return status.Errorf(codes.InvalidArgument, "direction: unknown value %d", req.Direction)
	}
	api, ok := s.sw.(captureAPI)
	if !ok {
		return status.Error(codes.Unimplemented, "this switch cannot capture")
	}
	c, err := api.CapturePort(req.Port, datapath.CaptureConfig{Dirs: dirs, Snaplen: int(req.Snaplen), PerSec: int(req.MaxRate)})
	if err != nil {
		return toStatus(err)
	}
	defer api.StopCapture(c)
	// Headers now tell the client the port is tapped (stream.Header()
	// returns), before any frame: a capture is then known to be running.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	// Poll rather than block on Frames: a blocked reader would have the PMD
	// wake this goroutine for every frame it hands over.
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	ctx := stream.Context()
	var sent uint64
	for {
	drain:
		for req.Count == 0 || sent < req.Count {
			select {
			case f := <-c.Frames():
				dir := pb.CaptureDirection_CAPTURE_DIRECTION_RX
				if f.Dir == datapath.CaptureTx {
					dir = pb.CaptureDirection_CAPTURE_DIRECTION_TX
				}
				err := stream.Send(&pb.CapturedFrame{UnixNanos: f.Time, Direction: dir, OrigLen: uint32(f.OrigLen),
					Data: f.Data, Dropped: c.Dropped()})
				c.Release(f)
				if err != nil {
					return err
				}
				sent++
			default:
				break drain
			}
		}
		if req.Count != 0 && sent >= req.Count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
