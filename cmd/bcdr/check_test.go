package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/report"
)

// bcdr check refuses, with exit 254 and a line that says why, a folder that
// is not a run and a run folder without evidence.json.
func TestCheckRefusesAFolderThatIsNoRunOrHasNoEvidence(t *testing.T) {
	empty := t.TempDir()
	noEvidence := t.TempDir()
	r := report.Result{Scenario: "x", Verdict: assertions.Unknown, Reason: "run cancelled before it finished"}
	if err := report.WriteAll(noEvidence, r, history.History{Scale: 200}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, dir, says string
	}{
		{"not a run", empty, "is not a run folder"},
		{"no evidence", noEvidence, "no evidence.json"},
		{"missing", filepath.Join(empty, "nothing-here"), "is not a run folder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runInProcess(t, "check", c.dir)
			if code != exitUsage || !strings.Contains(stderr, c.says) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("exit %d, stderr %q, stdout %q; want 254 and one line saying %q", code, stderr, stdout, c.says)
			}
		})
	}
	if _, _, code := runInProcess(t, "check"); code != exitUsage {
		t.Errorf("check without DIR: exit %d, want 254", code)
	}
	if stdout, _, code := runInProcess(t, "check", "--help"); code != exitPass || !strings.Contains(stdout, "evidence.json") {
		t.Errorf("check --help: exit %d:\n%s", code, stdout)
	}
	if _, err := os.Stat(filepath.Join(noEvidence, report.EvidenceFile)); err == nil {
		t.Errorf("WriteAll wrote evidence")
	}
}
