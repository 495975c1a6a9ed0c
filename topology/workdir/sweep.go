package workdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Sweep removes the work directories named prefix* in the temp dir that a
// gone owner left: one whose owner record names a gone process, whatever
// its age; one without a record (an older bcdr's) when no live process
// uses it and it is older than minAge; every one with all. It tells
// removed of each directory removed (or, dry, to remove) and kept of each
// one left, with the reason.
func Sweep(prefix string, minAge time.Duration, all, dry bool, removed func(dir string), kept func(dir, why string)) error {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	inUse := dirsInUse()
	var errs []error
	for _, d := range dirs {
		if why := keep(d, inUse, minAge); why != "" && !all {
			kept(d, why)
			continue
		}
		removed(d)
		// A PostgreSQL server killed with the run left its interlock
		// segment, which outlives the directory that names it.
		if _, err := releaseSysV(d, dry); err != nil {
			errs = append(errs, err)
		}
		if !dry {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// keep tells why a work directory must stay ("" = it may go).
func keep(d string, inUse func(string) bool, minAge time.Duration) string {
	owner, err := ReadOwner(d)
	switch {
	case err == nil && owner.Alive():
		return fmt.Sprintf("its owner, %s, is running", owner)
	case inUse(d):
		return "a live process uses it"
	case err == nil:
		return "" // its owner is gone
	}
	why := "no owner record"
	if !errors.Is(err, ErrNoOwner) {
		why = err.Error()
	}
	if fi, serr := os.Stat(d); serr == nil && time.Since(fi.ModTime()) < minAge {
		return fmt.Sprintf("%s, and younger than --min-age %s (a run may be starting there)", why, minAge)
	}
	return ""
}

// dirsInUse returns a test for whether a live process names a directory in
// its command line or has it as its working directory.
func dirsInUse() func(string) bool {
	var cmdlines, cwds []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil {
			cmdlines = append(cmdlines, string(b))
		}
		if c, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil {
			cwds = append(cwds, c)
		}
	}
	return func(d string) bool {
		for _, c := range cmdlines {
			if strings.Contains(c, d) {
				return true
			}
		}
		for _, c := range cwds {
			if c == d || strings.HasPrefix(c, d+"/") {
				return true
			}
		}
		return false
	}
}
