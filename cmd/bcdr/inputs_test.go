package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The hand-found cases of issue 13: a rate of 1e12 writes per second in a
// scenario file, and 100000 clients, in a file or on the command line. Each
// is refused with the bad-input exit code and one line naming the file, the
// line and the knob, before anything starts: no run folder, no work
// directory in the temp dir.
func TestOutOfRangeKnobsExit254BeforeAnythingStarts(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	rate := writeFile(t, dir, "rate.yaml", "scenario: region-outage\nset:\n  rate: 1e12\n")
	clients := writeFile(t, dir, "clients.yaml", "scenario: region-outage\nseed: 4\nset:\n  instances-per-region: 3\n  clients: 100000\n")
	clientsJSON := writeFile(t, dir, "clients.json", "{\n  \"scenario\": \"region-outage\",\n  \"set\": {\n    \"clients\": 100000\n  }\n}\n")
	at := writeFile(t, dir, "at.yaml", "faults:\n  - name: region-outage\n    params: {region: a}\n    at: 200h\n")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"rate 1e12 in a file", []string{"drill", "--file", rate}, []string{"rate.yaml:3: set.rate: must be in 1..10000, got 1e12"}},
		{"clients 100000 in a file", []string{"drill", "--file", clients}, []string{"clients.yaml:5: set.clients: must be in 1..256, got 100000"}},
		{"clients 100000 in JSON", []string{"drill", "--file", clientsJSON}, []string{"clients.json:4: set.clients: must be in 1..256, got 100000"}},
		{"clients 100000 on the command line", []string{"drill", "region-outage", "--set", "clients=100000"}, []string{"knob clients: must be in 1..256, got 100000"}},
		{"rate 1e12 on the command line", []string{"drill", "region-outage", "--set", "rate=1e12"}, []string{"knob rate: must be in 1..10000, got 1e12"}},
		{"rate NaN", []string{"drill", "region-outage", "--set", "rate=NaN"}, []string{"knob rate", "finite"}},
		{"scale flag out of range", []string{"drill", "region-outage", "--scale", "1e9"}, []string{"knob time-scale", "must be in 1..1000"}},
		{"fault at 200h", []string{"drill", "--file", at}, []string{"at.yaml:4: faults[0].at: must be in 0s..168h, got 200h"}},
		{"up: clients 100000", []string{"up", "--state", filepath.Join(dir, "st"), "--set", "clients=100000"}, []string{"knob clients: must be in 1..256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runInProcess(t, tc.args...)
			if code != exitUsage {
				t.Fatalf("bcdr %s: exit %d, want %d (bad input)\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, exitUsage, stdout, stderr)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("want one line on stderr, got %d:\n%s", len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error %q does not say %q", lines[0], w)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "runs")); !os.IsNotExist(err) {
		t.Errorf("a refused drill created the runs folder (%v)", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		for _, e := range left {
			t.Errorf("a refused drill left %s in the temp dir", e.Name())
		}
	}
}

// bcdr drill --help shows every knob's range.
func TestDrillHelpShowsRanges(t *testing.T) {
	stdout, _, code := runInProcess(t, "drill", "--help")
	if code != exitPass {
		t.Fatalf("exit %d", code)
	}
	for _, w := range []string{"RANGE", "1..10000", "1..256", "auto or 1..1000", "1s..24h", "1s..168h", "1s..720h", "0s..168h"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("bcdr drill --help does not show %q", w)
		}
	}
}
