// Package pcapfile writes classic libpcap capture files (nanosecond
// timestamps, Ethernet link type), which tcpdump, tshark and Wireshark read.
package pcapfile

import (
	"encoding/binary"
	"fmt"
	"io"
)

const (
	magicNanos       = 0xa1b23c4d
	linkTypeEthernet = 1
	headerLen        = 24
	recordLen        = 16
)

// Writer writes one capture.
type Writer struct {
	w       io.Writer
	snaplen int
	hdr     [recordLen]byte
}

// NewWriter writes the file header and returns a writer for its records.
func NewWriter(w io.Writer, snaplen int) (*Writer, error) {
	var h [headerLen]byte
	binary.LittleEndian.PutUint32(h[0:], magicNanos)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(snaplen))
	binary.LittleEndian.PutUint32(h[20:], linkTypeEthernet)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	return &Writer{w: w, snaplen: snaplen}, nil
}

// WritePacket appends one frame captured at unixNanos whose original
// length was origLen (data may be cut short to the snap length).
func (pw *Writer) WritePacket(unixNanos int64, data []byte, origLen int) error {
	if len(data) > pw.snaplen {
		data = data[:pw.snaplen]
	}
	binary.LittleEndian.PutUint32(pw.hdr[0:], uint32(unixNanos/1e9))
	binary.LittleEndian.PutUint32(pw.hdr[4:], uint32(unixNanos%1e9))
	binary.LittleEndian.PutUint32(pw.hdr[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(pw.hdr[12:], uint32(max(origLen, len(data))))
	if _, err := pw.w.Write(pw.hdr[:]); err != nil {
		return fmt.Errorf("pcap record: %w", err)
	}
	if _, err := pw.w.Write(data); err != nil {
		return fmt.Errorf("pcap record: %w", err)
	}
	return nil
}
