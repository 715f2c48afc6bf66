package cni

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "vswitch/proto/vswitch/v1"
)

// daemon is a connection to vswitchd.
type daemon struct {
	conn *grpc.ClientConn
	pb.VswitchClient
	path string
}

func dialDaemon(path string) (*daemon, error) {
	conn, err := grpc.NewClient("unix:"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("vswitchd at %s: %v", path, err), "")
	}
	return &daemon{conn: conn, VswitchClient: pb.NewVswitchClient(conn), path: path}, nil
}

func (d *daemon) Close() { d.conn.Close() }

// unavailable turns a failed RPC into a CNI error: an unreachable daemon is
// code 50 (plugin not available, the runtime may retry), anything else 999
// with the daemon's own message.
func (d *daemon) cniError(what string, err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("%s: vswitchd at %s is not answering: %s", what, d.path, st.Message()), "")
	}
	return types.NewError(types.ErrInternal, fmt.Sprintf("%s: %s", what, st.Message()), "")
}

// requireBridge fails with ErrBridgeMissing unless the bridge exists.
func (d *daemon) requireBridge(ctx context.Context, br string) error {
	r, err := d.ListBridges(ctx, &pb.ListBridgesRequest{})
	if err != nil {
		return d.cniError("list bridges", err)
	}
	for _, n := range r.GetNames() {
		if n == br {
			return nil
		}
	}
	return types.NewError(ErrBridgeMissing, fmt.Sprintf("bridge %s does not exist on vswitchd (create it: vsctl add-br %s)", br, br), "")
}

// port returns the port named name, or nil when no bridge has it.
func (d *daemon) port(ctx context.Context, name string) (*pb.Port, string, error) {
	r, err := d.Show(ctx, &pb.ShowRequest{})
	if err != nil {
		return nil, "", d.cniError("show", err)
	}
	for _, b := range r.GetBridges() {
		for _, p := range b.GetPorts() {
			if p.GetName() == name {
				return p, b.GetName(), nil
			}
		}
	}
	return nil, "", nil
}

// waitUp follows Watch until the port reports up, for at most timeout: a
// port that never comes up fails the ADD rather than leaving a pod with a
// dead interface. It returns the last status the daemon gave.
func (d *daemon) waitUp(ctx context.Context, br, name string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := d.Watch(ctx, &pb.WatchRequest{Bridge: br})
	if err != nil {
		return "", d.cniError("watch", err)
	}
	last := "no event for the port"
	for {
		ev, err := st.Recv()
		if err == io.EOF || status.Code(err) == codes.DeadlineExceeded || ctx.Err() != nil {
			return last, types.NewError(ErrPortNotUp, fmt.Sprintf("port %s on bridge %s not up after %s: %s", name, br, timeout, last), "")
		}
		if err != nil {
			return last, d.cniError("watch", err)
		}
		if ev.GetPort() != name {
			continue
		}
		if ev.GetKind() == pb.WatchEventKind_WATCH_EVENT_KIND_PORT_DELETED {
			return last, types.NewError(ErrPortNotUp, fmt.Sprintf("port %s was deleted while waiting for it to come up", name), "")
		}
		if ev.GetUp() {
			return "up", nil
		}
		if ev.GetStatus() != "" {
			last = ev.GetStatus()
		}
	}
}
