//go:build !dpdk

package netdev

import (
	"errors"

	"vswitch/datapath"
)

// Without the dpdk build tag the type is known but refused, saying how to
// get it, rather than reported as an unknown type.
func init() {
	Register("dpdk", Kind{Options: dpdkOptions, Open: func(Config) (datapath.Port, error) { return nil, errNoDPDK },
		Check: func(map[string]string) error { return errNoDPDK }})
}

// DPDKBuilt reports whether this binary has the dpdk port type.
const DPDKBuilt = false

var errNoDPDK = errors.New("interface type dpdk: this binary was built without DPDK; rebuild with `go build -tags dpdk ./cmd/vswitchd` (needs libdpdk-dev and pkg-config)")

// InitDPDK refuses --dpdk-eal-args in a binary without DPDK.
func InitDPDK(string) error {
	return errors.New("--dpdk-eal-args: this binary was built without DPDK; rebuild with `go build -tags dpdk ./cmd/vswitchd` (needs libdpdk-dev and pkg-config)")
}
