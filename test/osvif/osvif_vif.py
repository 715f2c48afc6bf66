#!/usr/bin/python3
"""Plug or unplug one VIF with os-vif's real ovs plugin, its vsctl OVSDB
driver pointed at vswitch: the test puts a PATH shim named ovs-vsctl (a
link to vsctl) first in PATH and passes --db=unix:SOCKET through os-vif's
ovsdb_connection option.

usage: osvif_vif.py plug|unplug vhostuser|ovs BRIDGE VIF_UUID DB ARG
  vhostuser: ARG is the socket path (os-vif mode "server": vswitch dials it,
             a dpdkvhostuserclient port)
  ovs:       ARG is the existing netdev the VIF uses (VIFOpenVSwitch with
             create_port, as Nova plugs it)
"""
import sys

from oslo_config import cfg
import os_vif
from os_vif import objects
from os_vif.objects import fields
from vif_plug_ovs import ovs
from vif_plug_ovs import privsep as ovs_privsep

action, kind, bridge, vif_id, db, arg = sys.argv[1:7]

# The test runs as root: privileged helpers run in this process instead of
# a separate privsep daemon started through sudo.
ovs_privsep.vif_plug.set_client_mode(False)

# The plugin reads its options when it loads: register and set them first.
cfg.CONF.register_opts(ovs.OvsPlugin.CONFIG_OPTS, group="os_vif_ovs")
cfg.CONF.set_override("ovsdb_interface", "vsctl", group="os_vif_ovs")
cfg.CONF.set_override("ovsdb_connection", db, group="os_vif_ovs")
cfg.CONF.set_override("ovs_vsctl_timeout", 10, group="os_vif_ovs")
os_vif.initialize()

net = objects.network.Network(id="5449523c-3a08-11e6-a13c-e7e4c1f80a8e", bridge=bridge,
                              mtu=1450, subnets=objects.subnet.SubnetList(objects=[]))
profile = objects.vif.VIFPortProfileOpenVSwitch(interface_id=vif_id, datapath_type="netdev",
                                                create_port=True)
mac = "ca:fe:de:ad:be:ef"
if kind == "vhostuser":
    vif = objects.vif.VIFVHostUser(id=vif_id, address=mac, network=net, plugin="ovs",
                                   port_profile=profile, mode=fields.VIFVHostUserMode.SERVER,
                                   path=arg, vif_name="vhu" + vif_id[:11])
else:
    vif = objects.vif.VIFOpenVSwitch(id=vif_id, address=mac, network=net, plugin="ovs",
                                     port_profile=profile, vif_name=arg, bridge_name=bridge)
inst = objects.instance_info.InstanceInfo(uuid="d5f2a3e6-8f9c-4c7b-9d6e-1a2b3c4d5e6f", name="vm1")
if action == "plug":
    os_vif.plug(vif, inst)
else:
    os_vif.unplug(vif, inst)
print("%s %s ok" % (action, kind))
