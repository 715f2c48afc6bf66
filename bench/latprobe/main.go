// Command latprobe measures one-way latency through a switch between two
// network namespaces: one thread sends UDP datagrams from namespace A, another
// receives them in namespace B, and both read the same monotonic clock, so
// each datagram's delay is receive time minus the send time it carries.
//
// Two phases: light load (-count datagrams every -interval), then wake-up
// (-wake datagrams, each after -gap of silence, so a switch that parks its
// poll threads when idle must wake for each one).
//
//	latprobe -a NS_A -b NS_B -dst 10.77.0.2:9000 [-count 2000 -interval 1ms -wake 20 -gap 1s]
//	latprobe -transit-in la.pcap -transit-out lb.pcap -count 2000 -wake 20   (the switch's own share)
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/vishvananda/netns"
)

func main() {
	nsA := flag.String("a", "", "sender's network namespace (name under /run/netns)")
	nsB := flag.String("b", "", "receiver's network namespace")
	dst := flag.String("dst", "", "receiver address host:port (an address of namespace B)")
	count := flag.Int("count", 2000, "light-load datagrams")
	interval := flag.Duration("interval", time.Millisecond, "light-load spacing")
	wake := flag.Int("wake", 20, "wake-up datagrams, each after -gap of silence")
	gap := flag.Duration("gap", time.Second, "silence before each wake-up datagram")
	in := flag.String("transit-in", "", "instead of probing: a nanosecond pcap of the switch's ingress port from a run (see transit.go)")
	out := flag.String("transit-out", "", "with -transit-in: the pcap of its egress port")
	flag.Parse()
	if *in != "" {
		if err := transit(*in, *out, *count, *wake); err != nil {
			fmt.Fprintln(os.Stderr, "latprobe:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*nsA, *nsB, *dst, *count, *interval, *wake, *gap); err != nil {
		fmt.Fprintln(os.Stderr, "latprobe:", err)
		os.Exit(1)
	}
}

var epoch = time.Now()

// inNS runs f on a thread moved into namespace name; the thread is never
// returned to the runtime (it is discarded when f's goroutine ends).
func inNS(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(name)
		if err != nil {
			errc <- fmt.Errorf("namespace %s: %w", name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

func run(nsA, nsB, dst string, count int, interval time.Duration, wake int, gap time.Duration) error {
	if nsA == "" || nsB == "" || dst == "" {
		return errors.New("-a, -b and -dst are required")
	}
	addr, err := net.ResolveUDPAddr("udp4", dst)
	if err != nil {
		return fmt.Errorf("-dst: %w", err)
	}
	total := count + wake
	delays := make([]time.Duration, total)
	seen := make([]bool, total)
	ready := make(chan *net.UDPConn, 1)
	recvDone := make(chan error, 1)
	go func() {
		recvDone <- inNS(nsB, func() error {
			c, err := net.ListenUDP("udp4", addr)
			if err != nil {
				ready <- nil
				return err
			}
			ready <- c
			buf := make([]byte, 64)
			for {
				n, _, err := c.ReadFromUDP(buf)
				now := time.Since(epoch)
				if err != nil {
					return nil // closed by the sender side when done
				}
				if n < 12 {
					continue
				}
				seq := int(binary.LittleEndian.Uint32(buf))
				if seq < total && !seen[seq] {
					seen[seq] = true
					delays[seq] = now - time.Duration(binary.LittleEndian.Uint64(buf[4:]))
				}
			}
		})
	}()
	rc := <-ready
	if rc == nil {
		return <-recvDone
	}
	err = inNS(nsA, func() error {
		c, err := net.DialUDP("udp4", nil, addr)
		if err != nil {
			return err
		}
		defer c.Close()
		var msg [64]byte
		send := func(seq int) error {
			binary.LittleEndian.PutUint32(msg[:], uint32(seq))
			binary.LittleEndian.PutUint64(msg[4:], uint64(time.Since(epoch)))
			_, err := c.Write(msg[:])
			return err
		}
		next := time.Now()
		for i := 0; i < count; i++ {
			next = next.Add(interval)
			if err := send(i); err != nil {
				return err
			}
			time.Sleep(time.Until(next))
		}
		for i := 0; i < wake; i++ {
			time.Sleep(gap)
			if err := send(count + i); err != nil {
				return err
			}
		}
		time.Sleep(100 * time.Millisecond) // the last datagram's way through
		return nil
	})
	rc.Close()
	if rerr := <-recvDone; err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	report("light", delays[:count], seen[:count], interval)
	report("wake", delays[count:], seen[count:], gap)
	samples("wake", delays[count:], seen[count:])
	return nil
}

// report prints one line: how many arrived and the delay distribution in µs.
func report(name string, d []time.Duration, seen []bool, spacing time.Duration) {
	var got []time.Duration
	for i, ok := range seen {
		if ok {
			got = append(got, d[i])
		}
	}
	if len(got) == 0 {
		fmt.Printf("%s: sent=%d received=0\n", name, len(d))
		return
	}
	slices.Sort(got)
	us := func(q float64) float64 { return float64(got[int(q*float64(len(got)-1))]) / 1e3 }
	fmt.Printf("%s: sent=%d received=%d spacing=%v p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f\n",
		name, len(d), len(got), spacing, us(0.5), us(0.9), us(0.99), us(1))
}
