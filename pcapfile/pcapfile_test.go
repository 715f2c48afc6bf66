package pcapfile

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLayout(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b, 100)
	if err != nil {
		t.Fatal(err)
	}
	frame := bytes.Repeat([]byte{0xab}, 150)
	if err := w.WritePacket(1_700_000_000_123_456_789, frame, 150); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if len(out) != headerLen+recordLen+100 {
		t.Fatalf("%d bytes", len(out))
	}
	le := binary.LittleEndian
	if le.Uint32(out[0:]) != magicNanos || le.Uint32(out[16:]) != 100 || le.Uint32(out[20:]) != 1 {
		t.Fatalf("header % x", out[:24])
	}
	r := out[24:]
	if le.Uint32(r[0:]) != 1_700_000_000 || le.Uint32(r[4:]) != 123_456_789 || le.Uint32(r[8:]) != 100 || le.Uint32(r[12:]) != 150 {
		t.Fatalf("record % x", r[:16])
	}
}

// tshark, where installed (make test installs it), reads what we write.
func TestTsharkReads(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is missing")
		}
		t.Skip("tshark not installed")
	}
	path := filepath.Join(t.TempDir(), "x.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := NewWriter(f, 262144)
	// A broadcast ARP request.
	arp := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 8, 6,
		0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}
	for i := 0; i < 3; i++ {
		if err := w.WritePacket(int64(i)*1e9+5, arp, len(arp)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "arp.dst.proto_ipv4").CombinedOutput()
	if err != nil || strings.Count(string(out), "10.0.0.2") != 3 {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
}
