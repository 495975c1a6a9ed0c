package workdir

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Create records this process, which is alive; the record reads back.
func TestCreateRecordsThisProcess(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	d, err := Create("bcdr-run-")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(d), "bcdr-run-") {
		t.Errorf("directory %s does not start with the prefix", d)
	}
	o, err := ReadOwner(d)
	if err != nil {
		t.Fatal(err)
	}
	if o.Pid != os.Getpid() || o.Start == 0 {
		t.Errorf("owner %+v, want pid %d with a start time", o, os.Getpid())
	}
	if !o.Alive() {
		t.Errorf("this process, %s, reads as gone", o)
	}
}

// An owner is gone when its pid runs no process, or a process that started
// at another time (the pid was taken again).
func TestAliveNeedsPidAndStartTime(t *testing.T) {
	self := Self()
	if self.Start == 0 {
		t.Skip("no /proc/self/stat")
	}
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		o    Owner
		want bool
	}{
		{self, true},
		{Owner{Pid: self.Pid}, true}, // no start time recorded: the pid decides
		{Owner{Pid: self.Pid, Start: self.Start + 1}, false},
		{Owner{Pid: exited.Process.Pid, Start: 1}, false},
		{Owner{Pid: 0}, false},
	} {
		if got := tc.o.Alive(); got != tc.want {
			t.Errorf("%s: alive = %v, want %v", tc.o, got, tc.want)
		}
	}
}

// A missing record is ErrNoOwner; a broken one is an error that says what
// is wrong.
func TestReadOwnerRefusesBrokenRecords(t *testing.T) {
	d := t.TempDir()
	if _, err := ReadOwner(d); !errors.Is(err, ErrNoOwner) {
		t.Errorf("no record: %v, want ErrNoOwner", err)
	}
	for content, says := range map[string]string{
		"":                     "no pid",
		"pid x\nstart 5\n":     "bad pid",
		"pid -3\n":             "bad pid",
		"pid 12\nstart soon\n": "bad start time",
	} {
		if err := os.WriteFile(filepath.Join(d, OwnerFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadOwner(d); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("record %q: %v, want an error saying %q", content, err, says)
		}
	}
}
