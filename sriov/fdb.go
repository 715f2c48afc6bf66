package sriov

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrFilterFull is wrapped when the device has no room for another
// unicast filter (igbvf holds 3): the kernel answers ENOSPC.
var ErrFilterFull = errors.New("unicast filter table full")

// AddUnicastFilter asks the netdev (a VF's own) to accept unicast frames
// to mac: RTM_NEWNEIGH, family AF_BRIDGE, NTF_SELF, what `bridge fdb add
// MAC dev DEV self` does. A VF otherwise receives only its own MAC.
func AddUnicastFilter(netdev string, mac net.HardwareAddr) error {
	n, err := fdbNeigh(netdev, mac)
	if err != nil {
		return err
	}
	if err := netlink.NeighAppend(n); err != nil {
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.ENOMEM) {
			return fmt.Errorf("sriov: %s: unicast filter %s: %w (%v)", netdev, mac, ErrFilterFull, err)
		}
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		return fmt.Errorf("sriov: %s: unicast filter %s: %w", netdev, mac, err)
	}
	return nil
}

// DelUnicastFilter removes a filter AddUnicastFilter added.
func DelUnicastFilter(netdev string, mac net.HardwareAddr) error {
	n, err := fdbNeigh(netdev, mac)
	if err != nil {
		return err
	}
	if err := netlink.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("sriov: %s: remove unicast filter %s: %w", netdev, mac, err)
	}
	return nil
}

// UnicastFilters lists the unicast addresses in the netdev's own fdb.
func UnicastFilters(netdev string) ([]net.HardwareAddr, error) {
	l, err := netlink.LinkByName(netdev)
	if err != nil {
		return nil, fmt.Errorf("sriov: %s: %w", netdev, err)
	}
	ns, err := netlink.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return nil, fmt.Errorf("sriov: %s: list fdb: %w", netdev, err)
	}
	var out []net.HardwareAddr
	for _, n := range ns {
		if len(n.HardwareAddr) == 6 && n.HardwareAddr[0]&1 == 0 {
			out = append(out, n.HardwareAddr)
		}
	}
	return out, nil
}

func fdbNeigh(netdev string, mac net.HardwareAddr) (*netlink.Neigh, error) {
	if len(mac) != 6 || mac[0]&1 != 0 {
		return nil, fmt.Errorf("sriov: unicast filter %s: %w (not a unicast MAC)", mac, ErrInvalid)
	}
	l, err := netlink.LinkByName(netdev)
	if err != nil {
		return nil, fmt.Errorf("sriov: %s: %w", netdev, err)
	}
	return &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
		State: netlink.NUD_PERMANENT, HardwareAddr: mac}, nil
}
