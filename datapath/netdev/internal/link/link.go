// Package link holds what the netdev port backends share about kernel
// network devices: the "no such device" error, ifindex lookup and MTU.
package link

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrNoDevice is wrapped when a port's network device does not exist (yet).
// netdev.ErrNoDevice is this same value.
var ErrNoDevice = errors.New("no such network device")

// MaxNameLen is the longest interface name Linux accepts (IFNAMSIZ - 1).
const MaxNameLen = unix.IFNAMSIZ - 1

// CheckName rejects names Linux would not accept as an interface name.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("empty interface name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("interface name %q is longer than %d characters", name, MaxNameLen)
	}
	for _, c := range []byte(name) {
		if c == '/' || c == ':' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("interface name %q contains %q", name, c)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("interface name %q is not allowed", name)
	}
	return nil
}

// Index returns the ifindex of the named device in the caller's network
// namespace. A missing device yields an error wrapping ErrNoDevice.
func Index(name string) (int, error) {
	if err := CheckName(name); err != nil {
		return 0, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("socket for ifindex lookup: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return 0, fmt.Errorf("%s: %w", name, ErrNoDevice)
		}
		return 0, fmt.Errorf("%s: ifindex: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

// Exists reports whether a network device of that name exists.
func Exists(name string) bool {
	_, err := Index(name)
	return err == nil
}

// MTU returns the device's MTU.
func MTU(name string) (int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, wrapNotFound(name, err)
	}
	return l.Attrs().MTU, nil
}

// SetMTU sets the device's MTU over netlink, as OVS does for mtu_request.
func SetMTU(name string, mtu int) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return wrapNotFound(name, err)
	}
	if l.Attrs().MTU == mtu {
		return nil
	}
	if err := netlink.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("%s: set mtu %d: %w", name, mtu, err)
	}
	return nil
}

func wrapNotFound(name string, err error) error {
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%s: %w", name, ErrNoDevice)
	}
	return fmt.Errorf("%s: %w", name, err)
}
