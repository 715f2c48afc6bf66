package netdev

import (
	"errors"
	"fmt"
	"strconv"

	"vswitch/datapath"
	"vswitch/datapath/netdev/afxdp"
	"vswitch/datapath/netdev/internal/link"
)

// afxdp: an AF_XDP socket per rx queue of an existing device, with the
// datapath arena as UMEM (each port pins the whole arena; see package
// afxdp). Options: n_rxq (default 1) and xdp-mode (best-effort,
// native-with-zerocopy, native, generic), as in OVS.
func init() {
	Register("afxdp", Kind{
		Existing:   true,
		KernelName: true,
		Options:    []string{"n_rxq", "xdp-mode"},
		Open:       openAFXDP,
	})
}

func openAFXDP(cfg Config) (datapath.Port, error) {
	if cfg.Pool == nil {
		return nil, errors.New("afxdp " + cfg.Name + ": no datapath pool (the UMEM is the datapath arena)")
	}
	nq := 1
	if s, ok := cfg.Options["n_rxq"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > afxdp.MaxQueues {
			return nil, fmt.Errorf("afxdp %s: option n_rxq %q: must be an integer between 1 and %d", cfg.Name, s, afxdp.MaxQueues)
		}
		nq = n
	}
	mode, err := afxdp.ParseMode(cfg.Options["xdp-mode"])
	if err != nil {
		return nil, fmt.Errorf("afxdp %s: option %w", cfg.Name, err)
	}
	if !link.Exists(cfg.Name) {
		return nil, fmt.Errorf("afxdp %s: %w", cfg.Name, ErrNoDevice)
	}
	// MTU first: in generic mode frames larger than a UMEM chunk would be
	// dropped by the kernel.
	if cfg.MTU > 0 {
		if err := link.SetMTU(cfg.Name, cfg.MTU); err != nil {
			return nil, fmt.Errorf("afxdp %s: %w", cfg.Name, err)
		}
	} else {
		WarnMTU(cfg.Name)
	}
	return afxdp.Open(afxdp.Config{Name: cfg.Name, Pool: cfg.Pool, Queues: nq, Mode: mode})
}
