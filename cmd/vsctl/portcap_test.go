package main

import "testing"

func TestCaptureAt(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"capture", "p"}, 0},
		{[]string{"--timeout=5", "capture", "p"}, 1},
		{[]string{"-t", "5", "capture", "p"}, 2},
		{[]string{"--timeout", "5", "capture", "p"}, 2},
		{[]string{"show"}, -1},
		{[]string{"add-port", "br", "capture"}, -1},
		{[]string{"--", "capture"}, -1},
		{[]string{"-t", "5", "show"}, -1},
	} {
		if got := captureAt(c.args); got != c.want {
			t.Errorf("captureAt(%q) = %d, want %d", c.args, got, c.want)
		}
	}
}
