package main

import (
	"slices"
	"strings"
	"testing"
)

func TestTakeDialFlags(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	none := env(nil)
	for _, tc := range []struct {
		name   string
		args   []string
		getenv func(string) string
		want   dialFlags
		rest   []string
		err    string // part of the error; "" for none
		code   int
	}{
		{"nothing", []string{"show"}, none, dialFlags{}, []string{"show"}, "", 0},
		{"unix path", []string{"--server", "/run/x.sock", "show"}, none, dialFlags{server: "/run/x.sock", serverExplicit: true}, []string{"show"}, "", 0},
		{"unix: prefix", []string{"--server=unix:/run/x.sock", "show"}, none, dialFlags{server: "/run/x.sock", serverExplicit: true}, []string{"show"}, "", 0},
		{"tcp with tls", []string{"--server", "tcp:192.0.2.1:6641", "--tls-cert", "c.pem", "--tls-key=k.pem", "--tls-ca", "ca.pem", "add-br", "br0", "--", "--may-exist", "add-br", "br1"}, none,
			dialFlags{server: "tcp:192.0.2.1:6641", cert: "c.pem", key: "k.pem", ca: "ca.pem", serverExplicit: true},
			[]string{"add-br", "br0", "--", "--may-exist", "add-br", "br1"}, "", 0},
		{"options after the command", []string{"show", "--server", "tcp:[::1]:6641"}, none, dialFlags{server: "tcp:[::1]:6641", serverExplicit: true}, []string{"show"}, "", 0},
		{"last wins", []string{"--server", "/a.sock", "--server", "tcp:127.0.0.1:1", "show"}, none, dialFlags{server: "tcp:127.0.0.1:1", serverExplicit: true}, []string{"show"}, "", 0},
		{"tcp from the environment", []string{"show"}, env(map[string]string{"VSWITCH_SERVER": "tcp:127.0.0.1:6641"}), dialFlags{server: "tcp:127.0.0.1:6641"}, []string{"show"}, "", 0},
		{"unix environment left to the caller", []string{"show"}, env(map[string]string{"VSWITCH_SERVER": "/x.sock"}), dialFlags{}, []string{"show"}, "", 0},
		{"flag beats environment", []string{"--server", "/y.sock", "show"}, env(map[string]string{"VSWITCH_SERVER": "tcp:127.0.0.1:6641"}), dialFlags{server: "/y.sock", serverExplicit: true}, []string{"show"}, "", 0},
		{"missing value", []string{"show", "--server"}, none, dialFlags{}, nil, "needs a value", 2},
		{"bare host:port", []string{"--server", "192.0.2.1:6641", "show"}, none, dialFlags{}, nil, "tcp:HOST:PORT", 1},
		{"tcp without port", []string{"--server", "tcp:192.0.2.1", "show"}, none, dialFlags{}, nil, "want tcp:HOST:PORT", 1},
		{"tls on unix", []string{"--server", "/x.sock", "--tls-ca", "ca.pem", "show"}, none, dialFlags{}, nil, "apply to a tcp:HOST:PORT server", 1},
		{"tls without server", []string{"--tls-ca", "ca.pem", "show"}, none, dialFlags{}, nil, "need --server tcp:HOST:PORT", 1},
		{"cert without key", []string{"--server", "tcp:127.0.0.1:1", "--tls-cert", "c.pem", "show"}, none, dialFlags{}, nil, "go together", 1},
	} {
		f, rest, err := takeDialFlags(tc.args, tc.getenv)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
			} else if code := usageExit(err); code != tc.code {
				t.Errorf("%s: exit %d, want %d", tc.name, code, tc.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if f != tc.want || !slices.Equal(rest, tc.rest) {
			t.Errorf("%s: got %+v %q, want %+v %q", tc.name, f, rest, tc.want, tc.rest)
		}
	}
}
