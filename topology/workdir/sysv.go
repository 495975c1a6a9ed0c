package workdir

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseSysV removes the System V shared memory segments that PostgreSQL
// servers of the work directory d left: a postmaster records its
// interlock segment in its data directory's postmaster.pid (line 7: key
// and id), and a server that was killed leaves the segment behind, with
// nothing attached. Only a segment a postmaster.pid under d names, and
// only one nothing is attached to, is removed: a live server's, or anyone
// else's, is never touched. It returns the ids removed.
func releaseSysV(d string, dry bool) ([]int, error) {
	var ids []int
	err := filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() != "postmaster.pid" {
			return nil // an unreadable part of a directory about to go
		}
		id, ok := shmidOf(path)
		if !ok {
			return nil
		}
		attached, exists := shmAttached(id)
		if !exists || attached > 0 {
			return nil
		}
		if !dry {
			if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
				return fmt.Errorf("remove shared memory segment %d (named by %s): %w", id, path, err)
			}
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// shmidOf reads the segment id a postmaster.pid records (line 7, "key id").
func shmidOf(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 7 {
		return 0, false
	}
	f := strings.Fields(lines[6])
	if len(f) != 2 {
		return 0, false
	}
	id, err := strconv.Atoi(f[1])
	return id, err == nil && id >= 0
}

// shmAttached reads how many processes have segment id attached, from
// /proc/sysvipc/shm; exists is false when there is no such segment.
func shmAttached(id int) (attached int, exists bool) {
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// key shmid perms size cpid lpid nattch ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 7 || fs[1] != strconv.Itoa(id) {
			continue
		}
		n, err := strconv.Atoi(fs[6])
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
