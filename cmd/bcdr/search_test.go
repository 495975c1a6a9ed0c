package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/harness"
)

// Bad arguments to search and shrink exit 254 before any drill starts.
func TestSearchAndShrinkRefuseBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"search", "--figure", "latency"}, "--figure must be one of"},
		{[]string{"search", "--runs", "0"}, "--runs must be in"},
		{[]string{"search", "--provider", "cloud"}, "provider"},
		{[]string{"search", "--set", "rpo=forever"}, "rpo"},
		{[]string{"search", "instance-crash"}, "no region loss"},
		{[]string{"shrink"}, "name a scenario"},
		{[]string{"shrink", "region-outage", "extra"}, "unexpected argument"},
	} {
		_, stderr, code := runInProcess(t, append(tc.args, "--out", filepath.Join(dir, "x"))...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("bcdr %s: exit %d, stderr %q; want 254 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Errorf("a refused search created its output folder (%v)", err)
	}
}

// One drill of a search on the fake provider: the table, the worst
// schedule as a scenario file that bcdr drill --file reads, and its replay
// command. About 12 s.
func TestSearchOnTheFakeWritesAReplayableWorstSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a drill on the fake provider (about 12 s)")
	}
	out := filepath.Join(t.TempDir(), "s")
	stdout, stderr, code := runInProcess(t, "search", "--provider", "fake", "--runs", "1", "--out", out,
		"--set", "steady-state=20m", "--set", "decision-window=5m", "--set", "failed-over-for=5m", "--set", "after=5m")
	if code != exitPass {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	file := filepath.Join(out, "worst.yaml")
	for _, w := range []string{"search rpo: 1 drills", "  1   +", "worst: #1", "replay:   bcdr drill --file " + file} {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout)
		}
	}
	sc, _, err := harness.LoadScenarioFile(file)
	if err != nil {
		t.Fatalf("the worst schedule does not read back: %v", err)
	}
	if sc.Spec.Provider != "fake" || sc.SteadyState.String() != "20m0s" || len(sc.Faults) != 1 {
		t.Errorf("worst schedule: provider %s, steady state %s, faults %v", sc.Spec.Provider, sc.SteadyState, sc.Faults)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 2 {
		t.Errorf("want the drill's folder and worst.yaml in %s, got %v", out, entries)
	}
}
