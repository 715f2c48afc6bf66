package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// addrFlags collects repeated -addr VLAN=IPV4 flags.
type addrFlags map[int]netip.Addr

func (a addrFlags) String() string { return fmt.Sprint(map[int]netip.Addr(a)) }

func (a addrFlags) Set(s string) error {
	v, ip, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want VLAN=IPV4, got %q", s)
	}
	vlan, err := strconv.Atoi(v)
	if err != nil || vlan < 1 || vlan > 4094 {
		return fmt.Errorf("bad VLAN %q", v)
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil || !addr.Is4() {
		return fmt.Errorf("bad IPv4 address %q", ip)
	}
	a[vlan] = addr
	return nil
}

// vlanStats is what vlanhost prints at exit; map keys are VLAN IDs.
type vlanStats struct {
	ARPReplies  map[int]int `json:"arp_replies"`
	EchoReplies map[int]int `json:"echo_replies"`
	// Frames seen per VLAN (-1: untagged), whatever they were.
	Frames map[int]int `json:"frames"`
}

func vlanhost(args []string) error {
	fs := flag.NewFlagSet("vlanhost", flag.ExitOnError)
	dev := fs.String("dev", "eth0", "trunk device")
	addrs := addrFlags{}
	fs.Var(addrs, "addr", "VLAN=IPV4 to answer for (repeatable)")
	fs.Parse(args)
	if len(addrs) == 0 {
		return fmt.Errorf("no -addr given")
	}
	ifi, err := net.InterfaceByName(*dev)
	if err != nil {
		return err
	}
	mac := ifi.HardwareAddr

	const ethPAll = 0x0300 // htons(ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, ethPAll)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPAll, Ifindex: ifi.Index}); err != nil {
		return fmt.Errorf("bind %s: %w", *dev, err)
	}
	// The kernel moves a received 802.1Q tag out of the frame into skb
	// metadata; PACKET_AUXDATA hands it back.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("PACKET_AUXDATA: %w", err)
	}
	// Wake up regularly to notice SIGTERM.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000}); err != nil {
		return err
	}
	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; stop.Store(true) }()

	st := vlanStats{ARPReplies: map[int]int{}, EchoReplies: map[int]int{}, Frames: map[int]int{}}
	to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	fmt.Println("ready")
	for !stop.Load() {
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, 0)
		if err != nil {
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			return fmt.Errorf("recvmsg: %w", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		frame := buf[:n]
		if len(frame) < 14 {
			continue
		}
		vlan := -1
		if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range cms {
				if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 20 {
					status := binary.NativeEndian.Uint32(m.Data[0:])
					tci := binary.NativeEndian.Uint16(m.Data[16:])
					if status&unix.TP_STATUS_VLAN_VALID != 0 {
						vlan = int(tci & 0x0fff)
					}
				}
			}
		}
		etype := binary.BigEndian.Uint16(frame[12:])
		payload := frame[14:]
		if vlan < 0 && etype == 0x8100 && len(frame) >= 18 {
			vlan = int(binary.BigEndian.Uint16(frame[14:]) & 0x0fff)
			etype = binary.BigEndian.Uint16(frame[16:])
			payload = frame[18:]
		}
		st.Frames[vlan]++
		ip, ok := addrs[vlan]
		if !ok {
			continue
		}
		var reply []byte
		switch etype {
		case 0x0806:
			if reply = arpReply(payload, mac, ip); reply != nil {
				st.ARPReplies[vlan]++
			}
		case 0x0800:
			if reply = echoReply(payload, ip); reply != nil {
				st.EchoReplies[vlan]++
			}
		}
		if reply == nil {
			continue
		}
		out := make([]byte, 0, 18+len(reply))
		out = append(out, frame[6:12]...) // back to the sender
		out = append(out, mac...)
		out = binary.BigEndian.AppendUint16(out, 0x8100)
		out = binary.BigEndian.AppendUint16(out, uint16(vlan))
		out = binary.BigEndian.AppendUint16(out, etype)
		out = append(out, reply...)
		if err := unix.Sendto(fd, out, 0, to); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(st)
}

// arpReply answers an Ethernet/IPv4 ARP request for ip.
func arpReply(p []byte, mac net.HardwareAddr, ip netip.Addr) []byte {
	if len(p) < 28 || binary.BigEndian.Uint16(p[0:]) != 1 || binary.BigEndian.Uint16(p[2:]) != 0x0800 ||
		p[4] != 6 || p[5] != 4 || binary.BigEndian.Uint16(p[6:]) != 1 {
		return nil
	}
	tpa := ip.As4()
	if !bytes.Equal(p[24:28], tpa[:]) {
		return nil
	}
	r := make([]byte, 28)
	copy(r, p[:6])
	binary.BigEndian.PutUint16(r[6:], 2)
	copy(r[8:14], mac)
	copy(r[14:18], tpa[:])
	copy(r[18:24], p[8:14])  // requester's MAC
	copy(r[24:28], p[14:18]) // requester's IP
	return r
}

// echoReply answers an ICMP echo request addressed to ip.
func echoReply(p []byte, ip netip.Addr) []byte {
	if len(p) < 20 || p[0]>>4 != 4 {
		return nil
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:]))
	dst := ip.As4()
	if ihl < 20 || total < ihl+8 || total > len(p) || p[9] != 1 || !bytes.Equal(p[16:20], dst[:]) || p[ihl] != 8 {
		return nil
	}
	r := make([]byte, total)
	copy(r, p[:total])
	copy(r[12:16], p[16:20])
	copy(r[16:20], p[12:16])
	r[8] = 64
	r[10], r[11] = 0, 0
	binary.BigEndian.PutUint16(r[10:], checksum(r[:ihl]))
	icmp := r[ihl:]
	icmp[0] = 0
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	return r
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
