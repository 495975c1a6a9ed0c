package containers

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/appdb"
	"github.com/bcdr-harness/bcdr/topology/blob"
	"github.com/bcdr-harness/bcdr/topology/sqlserver"
)

// SQL engines of the containers provider.
const (
	EnginePostgres  = "postgres"
	EngineSQLServer = "sqlserver"
)

// sqlserverImage is the SQL Server engine's image (pulled where a registry
// is reachable; never here).
const sqlserverImage = "mcr.microsoft.com/mssql/server:2022-latest"

// newSQLServerPassword returns a sa password random to the run that meets
// SQL Server's complexity rules (upper and lower case, digits, a symbol).
func newSQLServerPassword() string { return "Bcdr-" + blob.Secret(12) + "-Aa1" }

// sqlserverShareDir is where the host directory of a region is mounted in
// its SQL Server container.
const sqlserverShareDir = "/var/opt/mssql/bcdr"

// engineOf is the spec's SQL engine; BCDR_SQL_ENGINE overrides it, ""
// means postgres.
func engineOf(spec topology.Spec) string {
	if v := getenv("BCDR_SQL_ENGINE"); v != "" {
		return v
	}
	if spec.SQLEngine == "" {
		return EnginePostgres
	}
	return spec.SQLEngine
}

func (e *Env) engine() string { return engineOf(e.spec) }

// sqlTier is the SQL engine as the provider drives it: the log shipping,
// the containers (for region faults), how the harness and the AOS reach it.
type sqlTier struct {
	topology.LogShipping
	dialect appdb.Dialect
	ctrs    map[topology.RegionName]*ctr
	ready   map[topology.RegionName]func(context.Context) error
	hostDSN map[topology.RegionName]string // from the harness: snapshots, migrations
	aosDSN  map[topology.RegionName]string // from the AOS containers, through aos-sql-X
	run     func(context.Context)
	close   func()
}

func newSQLTier(ls topology.LogShipping, d appdb.Dialect, run func(context.Context), closeFn func()) sqlTier {
	return sqlTier{LogShipping: ls, dialect: d, run: run, close: closeFn,
		ctrs:    map[topology.RegionName]*ctr{},
		ready:   map[topology.RegionName]func(context.Context) error{},
		hostDSN: map[topology.RegionName]string{},
		aosDSN:  map[topology.RegionName]string{},
	}
}

// startSQLServer runs a SQL Server 2022 container per region, seeds log
// shipping (topology/sqlserver) from A to B and migrates the database.
// Each container mounts its region's host directory at
// /var/opt/mssql/bcdr (backup/ and incoming/, writable by uid 10001); the
// copy job reads the other region's backups through the WAN proxy.
func (e *Env) startSQLServer(ctx context.Context) error {
	nodes := map[topology.RegionName]sqlserver.Node{}
	var dbs []*sqlserver.DB
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		hp, err := freePort()
		if err != nil {
			return err
		}
		dir := filepath.Join(e.workDir, string(r))
		master := fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?database=master&encrypt=disable&dial+timeout=2", e.sqlPassword, hp)
		db, err := sqlserver.Open(master)
		if err != nil {
			return err
		}
		dbs = append(dbs, db)
		ready := func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			return db.DB.PingContext(ctx)
		}
		c, err := run(ctx, ctrSpec{
			Name: e.name("sql-" + string(r)), Image: sqlserverImage, Labels: e.regionLabels(r, "sql"),
			Env:      map[string]string{"ACCEPT_EULA": "Y", "MSSQL_SA_PASSWORD": e.sqlPassword, "MSSQL_PID": "Developer"},
			Ports:    map[string]int{"1433/tcp": hp},
			Networks: map[string][]string{e.nets[r]: {"sql-" + string(r)}},
			Binds:    []string{dir + ":" + sqlserverShareDir},
			Ready:    ready, ReadyTimeout: 180 * time.Second,
		})
		e.track(c)
		if err != nil {
			return err
		}
		if e.sql.ctrs == nil {
			e.sql = newSQLTier(nil, appdb.SQLServer, nil, nil)
		}
		e.sql.ctrs[r] = c
		e.sql.ready[r] = ready
		e.sql.hostDSN[r] = fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?database=%s&encrypt=disable", e.sqlPassword, hp, pgDatabase)
		e.sql.aosDSN[r] = fmt.Sprintf("sqlserver://sa:%s@toxiproxy:%d?database=%s&encrypt=disable&dial+timeout=2", e.sqlPassword, toxiPort(portAOSSQL, r), pgDatabase)
		nodes[r] = sqlserver.Node{
			Region: r, Exec: db,
			BackupDir: sqlserverShareDir + "/backup", IncomingDir: sqlserverShareDir + "/incoming",
			Incoming: sqlserver.DirShare{Path: filepath.Join(dir, "incoming")},
			// This region's backups as the other region reads them: across the WAN.
			Backups: sqlserver.HTTPShare{BaseURL: fmt.Sprintf("http://127.0.0.1:%d", e.wanHostPort(portWANShare, r)),
				Client: &http.Client{Timeout: 60 * time.Second}},
		}
	}
	ship, err := sqlserver.New(sqlserver.Config{
		Database: pgDatabase, Primary: nodes[topology.RegionA], Second: nodes[topology.RegionB], Clock: e.clk,
		BackupInterval: e.spec.LogBackupInterval, CopyInterval: e.spec.LogCopyInterval, RestoreInterval: e.spec.LogRestoreInterval,
	})
	if err != nil {
		return err
	}
	e.sql.LogShipping = ship
	e.sql.run = ship.Start
	e.sql.close = func() {
		ship.Stop()
		for _, db := range dbs {
			_ = db.Close()
		}
	}
	if err := ship.Setup(ctx); err != nil {
		return fmt.Errorf("sql server log shipping: %w", err)
	}
	return e.migrate(ctx)
}
