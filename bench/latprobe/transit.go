package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// The switch's own share of the delay: captures of the switch's two ports
// (tcpdump -i la / -i lb in the switch's namespace, nanosecond stamps) show
// when each datagram reached the switch and when the switch sent it on,
// stamped by the kernel as the frame passes, whatever the capturing
// process is doing. Their difference per sequence number is the switch's
// transit time, which for a wake-up datagram includes waking a parked PMD
// and nothing of the receiving host's own wake-up.

// readStamps returns the capture time of each latprobe datagram (by its
// sequence number) in a nanosecond pcap of Ethernet frames.
func readStamps(path string, total int) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var gh [24]byte
	if _, err := io.ReadFull(f, gh[:]); err != nil {
		return nil, fmt.Errorf("%s: pcap header: %w", path, err)
	}
	if binary.LittleEndian.Uint32(gh[:]) != 0xa1b23c4d {
		return nil, fmt.Errorf("%s: not a little-endian nanosecond pcap (tcpdump --time-stamp-precision=nano)", path)
	}
	if lt := binary.LittleEndian.Uint32(gh[20:]); lt != 1 {
		return nil, fmt.Errorf("%s: link type %d, want Ethernet", path, lt)
	}
	at := make([]int64, total)
	var rh [16]byte
	buf := make([]byte, 0, 65536)
	for {
		if _, err := io.ReadFull(f, rh[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return at, nil // tcpdump killed mid-record: keep what is whole
			}
			return nil, err
		}
		n := int(binary.LittleEndian.Uint32(rh[8:]))
		if n > cap(buf) {
			return nil, fmt.Errorf("%s: record of %d bytes", path, n)
		}
		d := buf[:n]
		if _, err := io.ReadFull(f, d); err != nil {
			return at, nil
		}
		t := int64(binary.LittleEndian.Uint32(rh[:]))*1e9 + int64(binary.LittleEndian.Uint32(rh[4:]))
		if seq, ok := probeSeq(d); ok && seq < total && at[seq] == 0 {
			at[seq] = t
		}
	}
}

// probeSeq finds the sequence number in an Ethernet/IPv4/UDP frame to
// port 9000 carrying a latprobe datagram.
func probeSeq(d []byte) (int, bool) {
	if len(d) < 14+20+8+4 || d[12] != 0x08 || d[13] != 0x00 || d[14]>>4 != 4 {
		return 0, false
	}
	ihl := int(d[14]&15) * 4
	if d[23] != 17 || len(d) < 14+ihl+8+4 {
		return 0, false
	}
	udp := d[14+ihl:]
	if binary.BigEndian.Uint16(udp[2:]) != 9000 {
		return 0, false
	}
	return int(binary.LittleEndian.Uint32(udp[8:])), true
}

// transit prints the switch's transit times for the light-load and the
// wake-up datagrams from the two captures.
func transit(in, out string, count, wake int) error {
	total := count + wake
	tin, err := readStamps(in, total)
	if err != nil {
		return err
	}
	tout, err := readStamps(out, total)
	if err != nil {
		return err
	}
	delays := make([]time.Duration, total)
	seen := make([]bool, total)
	for i := range total {
		if tin[i] != 0 && tout[i] != 0 {
			delays[i], seen[i] = time.Duration(tout[i]-tin[i]), true
		}
	}
	report("switch-light", delays[:count], seen[:count], 0)
	report("switch-wake", delays[count:], seen[count:], 0)
	samples("switch-wake", delays[count:], seen[count:])
	return nil
}

// samples prints delays in sending order (-1: not seen): an outlier's
// position tells a one-off (the first sample) from a periodic stall.
func samples(name string, d []time.Duration, seen []bool) {
	fmt.Printf("%s samples us:", name)
	for i, x := range d {
		if !seen[i] {
			x = -time.Microsecond
		}
		fmt.Printf(" %.0f", float64(x)/1e3)
	}
	fmt.Println()
}
