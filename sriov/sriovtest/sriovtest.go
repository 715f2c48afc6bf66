// Package sriovtest replays a sysfs tree recorded in the SR-IOV test
// guest (`sriovtool record`: "D path", "F path value", "L path target"
// lines, relative to /sys) into a directory, so discovery can be tested
// over real layouts and over variants the guest cannot produce.
package sriovtest

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Load reads a recording's lines.
func Load(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// Materialize writes the lines as a tree under a new temporary directory
// and returns it: D makes a directory, F a file holding value + "\n", L a
// relative symlink to target. It also creates bus/pci/drivers/NAME for
// every driver a link names.
func Materialize(t testing.TB, lines []string) string {
	t.Helper()
	root := t.TempDir()
	for _, l := range lines {
		f := strings.SplitN(l, " ", 3)
		if len(f) < 2 {
			t.Fatalf("recording line %q: want KIND PATH [VALUE]", l)
		}
		p := filepath.Join(root, f[1])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch f[0] {
		case "D":
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case "F":
			v := ""
			if len(f) == 3 {
				v = f[2]
			}
			if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		case "L":
			if len(f) != 3 {
				t.Fatalf("recording line %q: a link needs a target", l)
			}
			target := filepath.Join(root, f[2])
			if strings.HasPrefix(f[2], "bus/pci/drivers/") {
				os.MkdirAll(target, 0o755)
			}
			rel, err := filepath.Rel(filepath.Dir(p), target)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(rel, p); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("recording line %q: unknown kind %q", l, f[0])
		}
	}
	return root
}

// Without returns lines minus those containing any of subs.
func Without(lines []string, subs ...string) []string {
	var out []string
next:
	for _, l := range lines {
		for _, s := range subs {
			if strings.Contains(l, s) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// Replace returns lines with each line starting with prefix replaced by repl.
func Replace(lines []string, prefix, repl string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			l = repl
		}
		out[i] = l
	}
	return out
}
