package sriov

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NumVFsOptions tunes SetNumVFs.
type NumVFsOptions struct {
	// Driver binds each new VF (driver_override + drivers_probe) after
	// Configure ran; "" picks the PF driver's VF driver (igb: igbvf,
	// ixgbe: ixgbevf, i40e/ice: iavf), or leaves autoprobe to the kernel
	// when there is none known. "none" leaves the VFs unbound.
	Driver string
	// Configure, when set, runs for each VF before any driver binds it,
	// so the VF driver probes with its admin MAC (the clean order on igb).
	Configure func(v *VF) error
	// Timeout bounds the waits for PF carrier and VF netdevs (default 10s).
	Timeout time.Duration
}

var vfDrivers = map[string]string{"igb": "igbvf", "ixgbe": "ixgbevf", "i40e": "iavf", "ice": "iavf", "mlx5_core": "mlx5_core"}

// SetNumVFs sets the PF's VF count. The order is the one that is clean on
// igb: PF up with carrier first, sriov_drivers_autoprobe off, 0 then n
// into sriov_numvfs, configure, bind, autoprobe restored. It refuses (with
// ErrBusy) to change the count while any VF is in use, and n above
// sriov_totalvfs (ErrRange).
func (pf *PF) SetNumVFs(n int, o NumVFsOptions) (err error) {
	if err := pf.Refresh(); err != nil {
		return err
	}
	if n < 0 || n > pf.TotalVFs {
		return fmt.Errorf("sriov: %s: %d VFs: %w (0 to %d)", pf.Name, n, ErrRange, pf.TotalVFs)
	}
	if n == pf.NumVFs {
		return nil
	}
	for i := range pf.VFs {
		if why := pf.VFs[i].InUse(); why != "" {
			return fmt.Errorf("sriov: %s: cannot change the VF count while VF %d is in use (%s): %w", pf.Name, i, why, ErrBusy)
		}
	}
	if !pf.host.Netlink {
		return fmt.Errorf("sriov: %s: no rtnetlink on this host view (a recorded sysfs tree)", pf.Name)
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if err := pf.Up(o.Timeout); err != nil {
		return err
	}
	dir := pf.host.pciDir(pf.PCI)
	driver := o.Driver
	if driver == "" {
		driver = vfDrivers[pf.Driver]
	}
	apPath := filepath.Join(dir, "sriov_drivers_autoprobe")
	restore := pf.Autoprobe
	if driver != "" {
		if err := os.WriteFile(apPath, []byte("0"), 0); err != nil {
			return fmt.Errorf("sriov: %s: autoprobe off: %w", pf.Name, err)
		}
		defer func() {
			v := "0"
			if restore {
				v = "1"
			}
			if werr := os.WriteFile(apPath, []byte(v), 0); werr != nil && err == nil {
				err = fmt.Errorf("sriov: %s: restore sriov_drivers_autoprobe: %w", pf.Name, werr)
			}
			if err == nil {
				err = pf.Refresh() // show the restored autoprobe
			}
		}()
	}
	numPath := filepath.Join(dir, "sriov_numvfs")
	if pf.NumVFs != 0 {
		if err := os.WriteFile(numPath, []byte("0"), 0); err != nil {
			return fmt.Errorf("sriov: %s: sriov_numvfs=0: %w", pf.Name, err)
		}
	}
	if n == 0 {
		return pf.Refresh()
	}
	if err := os.WriteFile(numPath, []byte(strconv.Itoa(n)), 0); err != nil {
		return fmt.Errorf("sriov: %s: sriov_numvfs=%d: %w", pf.Name, n, err)
	}
	deadline := time.Now().Add(o.Timeout)
	for {
		if err := pf.Refresh(); err != nil {
			return err
		}
		if len(pf.VFs) >= n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sriov: %s: only %d of %d VFs appeared", pf.Name, len(pf.VFs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if o.Configure != nil {
		for i := range pf.VFs {
			if err := o.Configure(&pf.VFs[i]); err != nil {
				return err
			}
		}
	}
	if driver != "" && driver != "none" {
		for i := range pf.VFs {
			if pf.VFs[i].Driver == "" {
				if err := pf.VFs[i].Bind(driver); err != nil {
					return err
				}
			}
		}
		if err := pf.waitNetdevs(deadline); err != nil {
			return err
		}
	}
	slog.Info("sriov: VFs created", "pf", pf.Name, "numvfs", n, "driver", driver)
	return pf.Refresh()
}

// waitNetdevs waits until every VF bound to a network driver has a netdev.
func (pf *PF) waitNetdevs(deadline time.Time) error {
	for {
		missing := -1
		for i := range pf.VFs {
			if v := &pf.VFs[i]; v.Driver != "" && v.Driver != "vfio-pci" && v.Netdev == "" {
				missing = i
			}
		}
		if missing < 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sriov: %s VF %d: bound to %s but no netdev appeared", pf.Name, missing, pf.VFs[missing].Driver)
		}
		time.Sleep(20 * time.Millisecond)
		if err := pf.Refresh(); err != nil {
			return err
		}
	}
}

// Up sets the PF netdev up and waits for carrier: igb resets VFs and
// refuses VF rates until the PF link is up.
func (pf *PF) Up(timeout time.Duration) error {
	l, err := netlink.LinkByName(pf.Name)
	if err != nil {
		return fmt.Errorf("sriov: %s: %w", pf.Name, err)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("sriov: %s: set up: %w", pf.Name, err)
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		if c, err := readInt(pf.host.path("class", "net", pf.Name, "carrier")); err == nil && c == 1 {
			pf.Carrier = true
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sriov: %s: no carrier after %v (is the cable in?)", pf.Name, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Bind binds the VF to driver the way that works with autoprobe off:
// driver_override, then drivers_probe (a plain probe binds nothing then).
// A VF bound to another driver is unbound first.
func (v *VF) Bind(driver string) error {
	if driver == "" || filepath.Base(driver) != driver {
		return fmt.Errorf("sriov: %s: driver %q: %w", v, driver, ErrInvalid)
	}
	h := v.pf.host
	if _, err := os.Stat(h.path("bus", "pci", "drivers", driver)); err != nil {
		return fmt.Errorf("sriov: %s: driver %s is not loaded: %w", v, driver, ErrNotFound)
	}
	if v.Driver == driver {
		return nil
	}
	if v.Driver != "" {
		if err := v.Unbind(); err != nil {
			return err
		}
	}
	dir := h.pciDir(v.PCI)
	if err := os.WriteFile(filepath.Join(dir, "driver_override"), []byte(driver), 0); err != nil {
		return fmt.Errorf("sriov: %s: driver_override=%s: %w", v, driver, err)
	}
	if err := os.WriteFile(h.path("bus", "pci", "drivers_probe"), []byte(v.PCI), 0); err != nil {
		return fmt.Errorf("sriov: %s: drivers_probe: %w", v, err)
	}
	v.Driver = linkBase(filepath.Join(dir, "driver"))
	if v.Driver != driver {
		return fmt.Errorf("sriov: %s: %s did not bind (bound: %q)", v, driver, v.Driver)
	}
	if nd := h.netdevsOf(v.PCI); len(nd) > 0 {
		v.Netdev = nd[0]
	} else {
		v.Netdev = ""
	}
	return nil
}

// Unbind detaches the VF from its driver (its netdev goes away).
func (v *VF) Unbind() error {
	if v.Driver == "" {
		return nil
	}
	h := v.pf.host
	err := os.WriteFile(h.path("bus", "pci", "devices", v.PCI, "driver", "unbind"), []byte(v.PCI), 0)
	if err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("sriov: %s: unbind from %s: %w", v, v.Driver, err)
	}
	v.Driver, v.Netdev = "", ""
	return nil
}

// Rebind unbinds and binds the VF's driver again: igbvf reads its MAC
// from the PF only when it probes.
func (v *VF) Rebind() error {
	drv := v.Driver
	if drv == "" {
		return nil
	}
	if err := v.Unbind(); err != nil {
		return err
	}
	if err := v.Bind(drv); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for v.Netdev == "" && drv != "vfio-pci" {
		if time.Now().After(deadline) {
			return fmt.Errorf("sriov: %s: no netdev after rebinding %s", v, drv)
		}
		time.Sleep(20 * time.Millisecond)
		if nd := v.pf.host.netdevsOf(v.PCI); len(nd) > 0 {
			v.Netdev = nd[0]
		}
	}
	slog.Info("sriov: VF rebound", "vf", v.String(), "driver", drv, "netdev", v.Netdev)
	return nil
}
