package api

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults for the limits one client can impose on the daemon. 8 MiB holds
// an add-flows of about 100k rules in one request (one transaction) while a
// runaway client still cannot make the daemon buffer hundreds of megabytes.
const (
	DefaultMaxRequestBytes = 8 << 20
	DefaultCallTimeout     = 30 * time.Second
)

// Option tunes the server NewServer returns.
type Option func(*serverConfig)

type serverConfig struct {
	maxRequestBytes int
	callTimeout     time.Duration
}

// WithMaxRequestBytes bounds the size of one request message; a larger one
// is refused with ResourceExhausted before any handler sees it.
func WithMaxRequestBytes(n int) Option {
	return func(c *serverConfig) { c.maxRequestBytes = n }
}

// WithCallTimeout bounds every unary call: the client gets DeadlineExceeded
// after d even if it set no deadline of its own (a shorter client deadline
// wins). d <= 0 leaves calls unbounded. Streams are never bounded: a
// controller or a Watch stays connected for as long as it likes.
func WithCallTimeout(d time.Duration) Option {
	return func(c *serverConfig) { c.callTimeout = d }
}

func newServerConfig(opts []Option) serverConfig {
	c := serverConfig{maxRequestBytes: DefaultMaxRequestBytes, callTimeout: DefaultCallTimeout}
	for _, o := range opts {
		o(&c)
	}
	if c.maxRequestBytes <= 0 {
		c.maxRequestBytes = DefaultMaxRequestBytes
	}
	return c
}

// grpcOptions are the server options and unary interceptors (outermost
// first) that enforce the limits.
func (c serverConfig) grpcOptions() ([]grpc.ServerOption, []grpc.UnaryServerInterceptor) {
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(c.maxRequestBytes)}
	var unary []grpc.UnaryServerInterceptor
	if c.callTimeout > 0 {
		unary = append(unary, boundCalls(c.callTimeout))
	}
	return opts, unary
}

// boundCalls returns an interceptor that gives each unary call at most d.
// Most handlers call into the bridge layer without a context, so the
// deadline cannot reach them: the handler runs on its own goroutine and the
// client is answered at the deadline, while the handler finishes its (one
// transaction) change in the background. A shorter client deadline is
// already in ctx and wins.
func boundCalls(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now() // before the timeout, so our own deadline is >= start+d
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		type result struct {
			resp any
			err  error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := handler(ctx, req)
			done <- result{resp, err}
		}()
		select {
		case r := <-done:
			return r.resp, r.err
		case <-ctx.Done():
			err := ctx.Err()
			if errors.Is(err, context.Canceled) {
				return nil, status.Errorf(codes.Canceled, "%s: the client cancelled the call", info.FullMethod)
			}
			slog.Warn("api: call exceeded its deadline; it keeps running", "method", info.FullMethod, "after", time.Since(start).Round(time.Millisecond))
			if dl, ok := ctx.Deadline(); ok && dl.Sub(start) < d {
				return nil, status.Errorf(codes.DeadlineExceeded, "%s: the client's deadline passed after %s; the change may still complete", info.FullMethod, time.Since(start).Round(time.Millisecond))
			}
			return nil, status.Errorf(codes.DeadlineExceeded, "%s: no answer within vswitchd's --call-timeout of %s; the change may still complete", info.FullMethod, d)
		}
	}
}
