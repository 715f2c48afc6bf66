// Command nettool is the traffic helper the end-to-end tests run inside
// network namespaces (via `ip netns exec`): a TCP sink and source that
// report the SHA-256 of every byte they moved, and a raw AF_PACKET sender
// of malformed frames.
//
//	nettool sink   -listen 10.0.0.2:5001 [-timeout 120s]
//	nettool source -connect 10.0.0.2:5001 -bytes 20000000 [-seed 1]
//	nettool rawsend -dev eth0 [-seed 1] [-count 50]
//	nettool vlanhost -dev eth0 -addr 10=10.1.10.5 -addr 20=10.1.20.5
//	nettool listenmany -addr 10.0.0.2 -port 6000 -n 20
//	nettool connectmany -addr 10.0.0.2 -port 6000 -n 20 -bytes 4096
//
// sink and source print one line "bytes=N sha256=HEX seconds=S"; sink
// prints "listening ADDR" first, once it accepts connections. rawsend
// prints one line of JSON counting what it sent. listenmany and
// connectmany open one short TCP connection per port over a range of
// ports and print "conns=N bytes=B" (listenmany prints "listening N"
// first).
//
// vlanhost is a VLAN trunk endpoint for kernels built without 802.1Q
// support (no `ip link add ... type vlan`): it answers ARP requests and
// ICMP echo requests for one IPv4 address per VLAN, tagging its replies,
// until SIGTERM; it prints "ready" once bound and a JSON summary at exit.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: nettool sink|source|rawsend [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "udpsend":
		err = udpsend(os.Args[2:])
	case "udprecv":
		err = udprecv(os.Args[2:])
	case "sink":
		err = sink(os.Args[2:])
	case "source":
		err = source(os.Args[2:])
	case "rawsend":
		err = rawsend(os.Args[2:])
	case "vlanhost":
		err = vlanhost(os.Args[2:])
	case "listenmany":
		err = listenMany(os.Args[2:])
	case "connectmany":
		err = connectMany(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nettool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// sink accepts one connection and hashes everything it reads until EOF.
func sink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	listen := fs.String("listen", "", "address to listen on")
	timeout := fs.Duration("timeout", 120*time.Second, "give up after this long")
	fs.Parse(args)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Printf("listening %s\n", ln.Addr())
	deadline := time.Now().Add(*timeout)
	ln.(*net.TCPListener).SetDeadline(deadline)
	c, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	start := time.Now()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		return fmt.Errorf("read after %d bytes: %w", n, err)
	}
	fmt.Printf("bytes=%d sha256=%x seconds=%.3f\n", n, h.Sum(nil), time.Since(start).Seconds())
	return nil
}

// source connects (retrying while the sink starts) and writes a
// deterministic pseudo-random stream.
func source(args []string) error {
	fs := flag.NewFlagSet("source", flag.ExitOnError)
	addr := fs.String("connect", "", "address to connect to")
	total := fs.Int64("bytes", 20<<20, "bytes to send")
	seed := fs.Uint64("seed", 1, "seed of the pseudo-random data")
	timeout := fs.Duration("timeout", 120*time.Second, "give up after this long")
	fs.Parse(args)

	deadline := time.Now().Add(*timeout)
	// The sink may still be starting: retry refused connections briefly.
	dialUntil := time.Now().Add(10 * time.Second)
	var c net.Conn
	var err error
	for {
		c, err = net.DialTimeout("tcp", *addr, 2*time.Second)
		if err == nil || time.Now().After(dialUntil) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	c.SetDeadline(deadline)

	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], *seed)
	rng := rand.NewChaCha8(s)
	h := sha256.New()
	buf := make([]byte, 256<<10)
	start := time.Now()
	var sent int64
	for sent < *total {
		chunk := buf[:min(int64(len(buf)), *total-sent)]
		rng.Read(chunk)
		h.Write(chunk)
		n, err := c.Write(chunk)
		sent += int64(n)
		if err != nil {
			return fmt.Errorf("write after %d bytes: %w", sent, err)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return fmt.Errorf("close write: %w", err)
	}
	// Wait for the sink to close so the elapsed time covers delivery.
	io.Copy(io.Discard, c)
	fmt.Printf("bytes=%d sha256=%x seconds=%.3f\n", sent, h.Sum(nil), time.Since(start).Seconds())
	return nil
}

// rawReport is what rawsend prints.
type rawReport struct {
	// ShortRejected counts frames under 14 bytes the kernel refused to
	// send (AF_PACKET enforces the device's minimum header length).
	ShortRejected int `json:"short_rejected"`
	ShortSent     int `json:"short_sent"`
	// TruncatedSent: an Ethernet header announcing IPv4/IPv6/VLAN with the
	// next header cut short.
	TruncatedSent int `json:"truncated_sent"`
	// McastSrcSent: frames whose source MAC is multicast, which no switch
	// may learn or forward.
	McastSrcSent int `json:"mcast_src_sent"`
	RandomSent   int `json:"random_sent"`
	Errors       int `json:"errors"`
}

// rawsend writes malformed frames straight onto a device.
func rawsend(args []string) error {
	fs := flag.NewFlagSet("rawsend", flag.ExitOnError)
	dev := fs.String("dev", "eth0", "device to send on")
	seed := fs.Uint64("seed", 1, "seed for the random frames")
	count := fs.Int("count", 50, "frames of each kind")
	fs.Parse(args)

	ifi, err := net.InterfaceByName(*dev)
	if err != nil {
		return err
	}
	// Protocol 0: a send-only socket that receives nothing.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	send := func(b []byte) error { return unix.Sendto(fd, b, 0, to) }

	var rep rawReport
	rng := rand.New(rand.NewPCG(*seed, *seed^0x5eed))
	src := ifi.HardwareAddr
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

	// Runts shorter than an Ethernet header.
	for i := range *count {
		b := make([]byte, 1+i%13)
		fillRand(rng, b)
		switch err := send(b); {
		case err == nil:
			rep.ShortSent++
		case errors.Is(err, unix.EINVAL):
			rep.ShortRejected++
		default:
			rep.Errors++
		}
	}
	// Headers that promise more than the frame holds.
	for i := range *count {
		var b []byte
		b = append(b, bcast...)
		b = append(b, src...)
		switch i % 4 {
		case 0: // IPv4 with 3 bytes of header
			b = append(b, 0x08, 0x00, 0x45, 0x00, 0x00)
		case 1: // a VLAN tag cut in half
			b = append(b, 0x81, 0x00, 0x00)
		case 2: // IPv6 with 10 bytes of header
			b = append(b, 0x86, 0xdd, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0)
		case 3: // ethertype and nothing else
			b = append(b, 0x08, 0x06)
		}
		if err := send(b); err != nil {
			rep.Errors++
			continue
		}
		rep.TruncatedSent++
	}
	// Well-sized frames from a multicast source MAC.
	for range *count {
		b := make([]byte, 64)
		fillRand(rng, b)
		copy(b, bcast)
		b[6] |= 0x01
		if err := send(b); err != nil {
			rep.Errors++
			continue
		}
		rep.McastSrcSent++
	}
	// Pure noise of every size up to a full frame.
	for range *count {
		b := make([]byte, 14+rng.IntN(1500))
		fillRand(rng, b)
		if err := send(b); err != nil {
			rep.Errors++
			continue
		}
		rep.RandomSent++
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

func fillRand(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}
