package sqlserver

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/bcdr-harness/bcdr/topology"
)

// fakeServer records every statement sent to one SQL Server and plays just
// enough of one to answer the msdb reads: BACKUP writes a file into the
// host directory that stands for the server's share and a backupset row;
// RESTORE adds a restorehistory row.
type fakeServer struct {
	mu       sync.Mutex
	region   topology.RegionName
	hostRoot string // host directory behind serverRoot
	execs    []string
	queries  []string
	lsn      *int64 // shared by both servers: LSNs grow across the pair
	backups  []fakeBackup
	restores []fakeBackup
	state    string
	// lastCommit is the row fn_dblog gives for the newest commit (nil: none).
	lastCommit []any
	// fail returns an error for a statement, or nil.
	fail func(stmt string) error
	// The server rules the fake enforces: a log backup WITH NORECOVERY of a
	// READ_ONLY database is refused; SINGLE_USER set from a master session
	// leaves the one slot free, and a pooled health probe takes it (probes
	// counts how many times one will) until its session is killed; a log
	// restore onto a recovered (ONLINE) database is refused.
	// down makes the server unreachable (every statement and query fails).
	down       bool
	readOnly   bool
	singleUser bool
	probeHolds bool
	probes     int
}

// fakeErr is an error as go-mssqldb returns it.
func fakeErr(n int32, msg string) error {
	return mssql.Error{Number: n, Message: msg, All: []mssql.Error{{Number: n, Message: msg}}}
}

// rules applies one statement of a batch to the fake's database options
// and refuses what SQL Server would refuse.
func (f *fakeServer) rules(stmt string) error {
	switch {
	case strings.Contains(stmt, "sys.dm_exec_sessions") && strings.Contains(stmt, "KILL"):
		f.probeHolds = false
	case strings.Contains(stmt, "SET SINGLE_USER"):
		if f.probeHolds {
			return fakeErr(5064, "Changes to the state or options of database 'bcdr' cannot be made at this time. The database is in single-user mode, and a user is currently connected to it.")
		}
		f.singleUser = true
		if f.probes > 0 {
			f.probes--
			f.probeHolds = true // the master session did not keep the slot
		}
	case strings.Contains(stmt, "SET MULTI_USER"):
		if f.probeHolds {
			return fakeErr(5064, "Changes to the state or options of database 'bcdr' cannot be made at this time. The database is in single-user mode, and a user is currently connected to it.")
		}
		f.singleUser = false
	case strings.Contains(stmt, "SET READ_ONLY"):
		f.readOnly = true
	case strings.Contains(stmt, "SET READ_WRITE"):
		f.readOnly = false
	case strings.HasPrefix(stmt, "BACKUP LOG") && strings.Contains(stmt, "NORECOVERY"):
		if f.readOnly {
			return fakeErr(3013, "BACKUP LOG WITH NORECOVERY of a READ_ONLY database cannot leave it RESTORING; BACKUP LOG is terminating abnormally.")
		}
		if f.probeHolds {
			return fakeErr(ErrExclusiveAccess, "Exclusive access could not be obtained because the database is in use.")
		}
	case strings.HasPrefix(stmt, "RESTORE LOG"):
		if f.state == "ONLINE" {
			return fakeErr(3117, "The log or differential backup cannot be restored because no files are ready to rollforward.")
		}
	}
	return nil
}

type fakeBackup struct {
	path        string
	lsn         int64
	start, done time.Time
}

const serverRoot = "/var/opt/mssql/bcdr"

var diskRe = regexp.MustCompile(`DISK = N'([^']+)'`)

func (f *fakeServer) hostPath(p string) string {
	return filepath.Join(f.hostRoot, strings.TrimPrefix(p, serverRoot))
}

func (f *fakeServer) Exec(ctx context.Context, stmt string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return fmt.Errorf("dial tcp: connection refused")
	}
	f.execs = append(f.execs, stmt)
	if f.fail != nil {
		if err := f.fail(stmt); err != nil {
			return err
		}
	}
	for _, part := range strings.Split(stmt, "; ") {
		if err := f.rules(strings.TrimSpace(part)); err != nil {
			return err
		}
		if err := f.apply(part); err != nil {
			return err
		}
	}
	return nil
}

// apply plays one statement: backups write files and backupset rows,
// restores restorehistory rows and the database's state.
func (f *fakeServer) apply(stmt string) error {
	m := diskRe.FindStringSubmatch(stmt)
	switch {
	case strings.Contains(stmt, "BACKUP "):
		*f.lsn += 1000
		if err := os.WriteFile(f.hostPath(m[1]), []byte(fmt.Sprintf("backup lsn %d", *f.lsn)), 0o644); err != nil {
			return err
		}
		now := time.Now().UTC()
		f.backups = append(f.backups, fakeBackup{path: m[1], lsn: *f.lsn, start: now, done: now})
		if strings.Contains(stmt, "NORECOVERY") {
			f.state = "RESTORING"
			f.singleUser, f.readOnly = false, false
		}
	case strings.HasPrefix(stmt, "RESTORE") && m != nil:
		data, err := os.ReadFile(f.hostPath(m[1]))
		if err != nil {
			return fmt.Errorf("fake restore: %w", err)
		}
		var lsn int64
		fmt.Sscanf(string(data), "backup lsn %d", &lsn)
		f.restores = append(f.restores, fakeBackup{path: m[1], lsn: lsn, start: time.Now().UTC(), done: time.Now().UTC()})
		f.state = "RESTORING"
		if strings.Contains(stmt, "WITH RECOVERY") {
			f.state = "ONLINE"
		}
	case strings.HasPrefix(stmt, "RESTORE DATABASE") && strings.Contains(stmt, "WITH RECOVERY"):
		f.state = "ONLINE"
	}
	return nil
}

func (f *fakeServer) Query(ctx context.Context, q string, args ...any) ([][]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, fmt.Errorf("dial tcp: connection refused")
	}
	f.queries = append(f.queries, q)
	row := func(b fakeBackup) []any { return []any{fmt.Sprint(b.lsn), b.start, b.done} }
	switch q {
	case QueryBackupOf:
		for i := len(f.backups) - 1; i >= 0; i-- {
			if f.backups[i].path == args[1] {
				return [][]any{row(f.backups[i])}, nil
			}
		}
		return nil, nil
	case QueryLastLogBackup:
		for i := len(f.backups) - 1; i >= 0; i-- {
			if strings.HasSuffix(f.backups[i].path, ".trn") && strings.HasPrefix(f.backups[i].path, args[1].(string)) {
				return [][]any{row(f.backups[i])}, nil
			}
		}
		return nil, nil
	case QueryRestored:
		var out [][]any
		for i := len(f.restores) - 1; i >= 0; i-- {
			b := f.restores[i]
			out = append(out, []any{b.path, fmt.Sprint(b.lsn), b.start, b.done, b.done})
		}
		return out, nil
	case QueryState:
		return [][]any{{f.state}}, nil
	case QueryLastCommitFor("bcdr"):
		if f.lastCommit == nil {
			return nil, nil
		}
		return [][]any{f.lastCommit}, nil
	}
	return nil, fmt.Errorf("fake server: unexpected query %q", q)
}

// take returns and clears the statements executed so far.
func (f *fakeServer) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.execs
	f.execs = nil
	return out
}

type pair struct {
	ship  *Shipping
	a, b  *fakeServer
	wan   map[topology.RegionName]*httptest.Server
	nowNS int64
	dirs  map[topology.RegionName]string
}

// newPair wires two fake servers: each has host directories backup/ and
// incoming/; each backup directory is served over HTTP and read by the
// other side, as the WAN proxy would carry it.
func newPair(t *testing.T) *pair {
	t.Helper()
	var lsn int64 = 37000000010000000
	p := &pair{wan: map[topology.RegionName]*httptest.Server{}, dirs: map[topology.RegionName]string{}, nowNS: 1_700_000_000_000_000_000}
	nodes := map[topology.RegionName]Node{}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		root := t.TempDir()
		for _, d := range []string{"backup", "incoming"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o777); err != nil {
				t.Fatal(err)
			}
		}
		f := &fakeServer{region: r, hostRoot: root, lsn: &lsn, state: "ONLINE"}
		srv := httptest.NewServer(ShareHandler(DirShare{Path: filepath.Join(root, "backup")}))
		t.Cleanup(srv.Close)
		p.wan[r] = srv
		p.dirs[r] = root
		nodes[r] = Node{
			Region:      r,
			Exec:        f,
			BackupDir:   path.Join(serverRoot, "backup"),
			IncomingDir: path.Join(serverRoot, "incoming"),
			Incoming:    DirShare{Path: filepath.Join(root, "incoming")},
			Backups:     HTTPShare{BaseURL: srv.URL},
		}
		if r == topology.RegionA {
			p.a = f
		} else {
			p.b = f
			f.state = ""
		}
	}
	ship, err := New(Config{
		Database: "bcdr",
		Primary:  nodes[topology.RegionA],
		Second:   nodes[topology.RegionB],
		Now: func() time.Time {
			p.nowNS += int64(time.Second)
			return time.Unix(0, p.nowNS)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.ship = ship
	return p
}

func tooEarly() error {
	return mssql.Error{Number: 3013, Message: "RESTORE LOG is terminating abnormally.", All: []mssql.Error{
		{Number: ErrLogTooEarly, Message: "The log in this backup set terminates at LSN ..., which is too early to apply to the database."},
		{Number: 3013, Message: "RESTORE LOG is terminating abnormally."},
	}}
}
