package api

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Listen opens the API's Unix socket at path: it creates the parent
// directory (0755), replaces a stale socket left by a daemon that died, and
// refuses to steal the socket of a daemon that still answers on it. The
// socket is made 0660 and, when group is not empty, owned by that group so
// its members can run vsctl without root.
func Listen(path, group string) (net.Listener, error) {
	if path == "" {
		return nil, errors.New("api socket: empty path")
	}
	gid := -1
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("api socket %s: %w", path, err)
		}
		gid = g
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api socket %s: create directory: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil && errors.Is(err, syscall.EADDRINUSE) {
		if err := removeStale(path); err != nil {
			return nil, err
		}
		ln, err = net.Listen("unix", path)
	}
	if err != nil {
		return nil, fmt.Errorf("api socket %s: listen: %w", path, unwrapOp(err))
	}
	// The socket is briefly there with umask permissions; connecting needs
	// write permission, which the usual umasks deny to group and others.
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api socket %s: chmod: %w", path, err)
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("api socket %s: chgrp %s: %w", path, group, err)
		}
	}
	return ln, nil
}

// removeStale removes the socket at path if nobody accepts connections on
// it any more (ECONNREFUSED), as after a daemon was killed.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("api socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("api socket %s: the path exists and is not a socket; remove it or choose another --run-dir", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("api socket %s: another vswitchd is already serving it; stop it or choose another --run-dir", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("api socket %s: in use and cannot tell by whom: %w", path, unwrapOp(err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("api socket %s: remove stale socket: %w", path, err)
	}
	return nil
}

// lookupGroup resolves a group name (or a numeric gid) to a gid.
func lookupGroup(group string) (int, error) {
	g, err := user.LookupGroup(group)
	if err != nil {
		if _, numeric := strconv.Atoi(group); numeric == nil {
			g, err = user.LookupGroupId(group)
		}
	}
	if err != nil {
		var unknown user.UnknownGroupError
		var unknownID user.UnknownGroupIdError
		if errors.As(err, &unknown) || errors.As(err, &unknownID) {
			return -1, fmt.Errorf("socket group %q does not exist", group)
		}
		return -1, fmt.Errorf("socket group %q: %w", group, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1, fmt.Errorf("socket group %q: bad gid %q", group, g.Gid)
	}
	return gid, nil
}

// unwrapOp drops net.OpError's "listen unix /path:" prefix, which would
// repeat the path the caller's message already names.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
