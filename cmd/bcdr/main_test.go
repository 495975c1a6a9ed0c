package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/harness"
)

// bin is the bcdr binary built for the tests that need a separate process
// (signals, a detached environment).
var bin string

func TestMain(m *testing.M) {
	if os.Getenv(ownerHelperEnv) != "" {
		ownerHelper()
		return
	}
	dir, err := os.MkdirTemp("", "bcdr-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "bcdr")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bcdr: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runInProcess runs the CLI's run function and returns its output and exit code.
func runInProcess(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

// small makes drills short: three instances per region and service times
// that take seconds at scale 200.
var small = []string{"--set", "instances-per-region=3", "--set", "steady-state=20m", "--set", "after=5m",
	"--set", "failed-over-for=10m", "--set", "decision-window=10m", "--set", "fault-hold=5m",
	"--set", "min-writes-before-fault=10"}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Bad arguments and bad scenario files: one line naming the knob (or the
// file, line and field), exit 254, and nothing started or written.
func TestBadArgumentsExit254WithOneLine(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	unknownField := writeFile(t, dir, "typo.yaml", "scenario: region-outage\nseed: 3\nsed: 4\n")
	badValue := writeFile(t, dir, "value.yaml", "scenario: region-outage\nset:\n  rpo: 15m\n  rto: soon\n")
	badKnob := writeFile(t, dir, "knob.yaml", "scenario: region-outage\nset:\n  instances-per-region: 3\n  log-backup-intervall: 5m\n")
	badFault := writeFile(t, dir, "fault.json", "{\n  \"scenario\": \"region-outage\",\n  \"faults\": [\n    {\"name\": \"region-outage\", \"params\": {\"region\": \"c\"}}\n  ]\n}\n")
	badJSON := writeFile(t, dir, "syntax.json", "{\n  \"scenario\": \"region-outage\",\n  \"set\": {\"rpo\": \"1m\",}\n}\n")
	negAt := writeFile(t, dir, "at.yaml", "faults:\n  - name: instance-crash\n    at: -5m\n")
	for _, tc := range []struct {
		name string
		args []string
		want []string // every one must appear in the single line
	}{
		{"unknown knob", []string{"drill", "region-outage", "--set", "rpo-budget=15m"}, []string{"knob rpo-budget", "unknown knob"}},
		{"negative interval", []string{"drill", "region-outage", "--set", "log-backup-interval=-5m"}, []string{"knob log-backup-interval", "must be in 1s..24h, got -5m"}},
		{"budget not a duration", []string{"drill", "region-outage", "--set", "rto=soon"}, []string{"knob rto", "not a duration"}},
		{"not name=value", []string{"drill", "region-outage", "--set", "rpo"}, []string{"rpo", "name=value"}},
		{"unknown scenario", []string{"drill", "no-such-drill"}, []string{"unknown scenario", "no-such-drill"}},
		{"name and file", []string{"drill", "region-outage", "--file", badValue}, []string{"not both"}},
		{"file: unknown field", []string{"drill", "--file", unknownField}, []string{"typo.yaml:3: sed: unknown field", "did you mean seed"}},
		{"file: bad budget", []string{"drill", "--file", badValue}, []string{"value.yaml:4: set.rto: not a duration"}},
		{"file: unknown knob", []string{"drill", "--file", badKnob}, []string{"knob.yaml:4: set.log-backup-intervall: unknown knob", "did you mean log-backup-interval"}},
		{"file: bad fault parameter", []string{"drill", "--file", badFault}, []string{"fault.json:4: faults[0].params.region", `got "c"`}},
		{"file: JSON syntax", []string{"drill", "--file", badJSON}, []string{"syntax.json:3: not valid JSON"}},
		{"file: negative fault time", []string{"drill", "--file", negAt}, []string{"at.yaml:3: faults[0].at: must be in 0s..168h, got -5m"}},
		{"file missing", []string{"drill", "--file", filepath.Join(dir, "nope.yaml")}, []string{"nope.yaml: read"}},
		{"inject: unknown fault", []string{"inject", "no-such-fault", "--state", dir}, []string{"unknown fault", "no-such-fault"}},
		{"inject: bad parameter", []string{"inject", "instance-crash", "instance=x", "--state", dir}, []string{"parameter instance", "not an integer"}},
		{"status: nothing up", []string{"status", "--state", filepath.Join(dir, "none")}, []string{"no environment is up"}},
		{"unknown command", []string{"dril"}, []string{"unknown command"}},
		{"out not writable", []string{"drill", "region-outage", "--out", filepath.Join(unknownField, "sub")}, []string{"--out", "not a directory"}},
		{"report: not a run", []string{"report", dir}, []string{"not a run folder"}},
		{"trend: not a run", []string{"trend", dir, dir}, []string{"not a run folder"}},
		{"up: bad knob", []string{"up", "--state", filepath.Join(dir, "st"), "--set", "probe-interval=0s"}, []string{"knob probe-interval", "must be in 1s..24h, got 0s"}},
		{"up: out not writable", []string{"up", "--state", filepath.Join(dir, "st"), "--out", filepath.Join(unknownField, "sub")}, []string{"up: --out", "not a directory"}},
		{"recover: two targets", []string{"recover", "1", "2", "--state", dir}, []string{"unexpected argument"}},
		{"bad flag", []string{"drill", "region-outage", "--sead", "3"}, []string{"sead"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runInProcess(t, tc.args...)
			if code != exitUsage {
				t.Fatalf("bcdr %s: exit %d, want %d (bad arguments)\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, exitUsage, stdout, stderr)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("bcdr %s: want one line on stderr, got %d:\n%s", strings.Join(tc.args, " "), len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("bcdr %s: error %q does not say %q", strings.Join(tc.args, " "), lines[0], w)
				}
			}
			if stdout != "" {
				t.Errorf("bcdr %s: printed on stdout: %s", strings.Join(tc.args, " "), stdout)
			}
		})
	}
	// Nothing started: no output folder, no work directory.
	if _, err := os.Stat(filepath.Join(dir, "runs")); !os.IsNotExist(err) {
		t.Errorf("a refused drill created the runs folder (%v)", err)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, cmd := range []string{"drill", "search", "shrink", "scenarios", "faults", "up", "inject", "recover", "status", "down", "report", "trend", "check", "clean"} {
		stdout, stderr, code := runInProcess(t, cmd, "--help")
		if code != exitPass || !strings.Contains(stdout, "Usage: bcdr "+cmd) {
			t.Errorf("bcdr %s --help: exit %d, stdout %q, stderr %q", cmd, code, stdout, stderr)
		}
	}
	stdout, _, code := runInProcess(t, "--help")
	for _, cmd := range []string{"drill", "search", "shrink", "up", "inject", "recover", "status", "down", "clean", "trend", "check"} {
		if !strings.Contains(stdout, "bcdr "+cmd) {
			t.Errorf("bcdr --help does not list %s", cmd)
		}
	}
	if code != exitPass {
		t.Errorf("bcdr --help: exit %d", code)
	}
	// The drill help lists every knob with its default and the file format.
	stdout, _, _ = runInProcess(t, "drill", "--help")
	for _, w := range []string{"log-backup-interval", "5m0s", "skip-final-log-backup", "Scenario file", "--file", "--progress"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("bcdr drill --help does not mention %q", w)
		}
	}
	// bcdr up says where the session's history goes.
	stdout, _, _ = runInProcess(t, "up", "--help")
	for _, w := range []string{"--out", "runs/up-", "history", "bcdr report"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("bcdr up --help does not mention %q", w)
		}
	}
}

func TestScenariosAndFaultsList(t *testing.T) {
	stdout, _, code := runInProcess(t, "scenarios")
	if code != 0 || !strings.Contains(stdout, "region-outage") {
		t.Errorf("bcdr scenarios: exit %d:\n%s", code, stdout)
	}
	stdout, _, code = runInProcess(t, "faults")
	if code != 0 || !strings.Contains(stdout, "region-outage") || !strings.Contains(stdout, "instance-crash") {
		t.Errorf("bcdr faults: exit %d:\n%s", code, stdout)
	}
}

// The example scenario files stay valid.
func TestExampleScenarioFilesParse(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.*")
	if len(files) == 0 {
		t.Fatal("no example scenario files")
	}
	for _, f := range files {
		sc, _, err := harness.LoadScenarioFile(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		t.Logf("%s: %s, %d faults, checks %v", f, sc.Name, len(sc.Faults), sc.Checks)
	}
}
