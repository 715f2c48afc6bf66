// Command vswitch-cni is vswitch's CNI plugin (ADD, DEL, CHECK, STATUS,
// GC, VERSION; spec versions up to 1.1.0). The network config and the
// results it returns are described in docs/cni.md; the logic is in
// package vswitch/cni.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	"vswitch/cni"
)

func main() {
	skel.PluginMainFuncs(cni.Funcs(), version.VersionsStartingFrom("0.3.0"), "vswitch-cni: attach pods to a vswitchd bridge (veth, vhostuser, sriov)")
}
