package sqlserver

import (
	"fmt"
	"regexp"
	"strings"
)

// The T-SQL of every log-shipping step, as pure functions so that tests can
// compare the exact text. Database names are validated (ValidName) and file
// paths quoted as N'...' literals; BACKUP and RESTORE take no parameters for
// the database name.

var validName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,120}$`)

// ValidName reports whether name is a database name this package accepts.
func ValidName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("database name %q: use letters, digits and underscore", name)
	}
	return nil
}

func lit(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" }

// StmtCreateDatabase creates the database when it does not exist.
func StmtCreateDatabase(db string) string {
	return fmt.Sprintf("IF DB_ID(%s) IS NULL CREATE DATABASE [%s]", lit(db), db)
}

// StmtFullRecovery puts the database in FULL recovery, which log backups need.
func StmtFullRecovery(db string) string {
	return fmt.Sprintf("ALTER DATABASE [%s] SET RECOVERY FULL", db)
}

// StmtBackupDatabase takes a full backup, the base of the log chain.
func StmtBackupDatabase(db, path string) string {
	return fmt.Sprintf("BACKUP DATABASE [%s] TO DISK = %s WITH INIT, FORMAT", db, lit(path))
}

// StmtBackupLog takes one scheduled log backup.
func StmtBackupLog(db, path string) string {
	return fmt.Sprintf("BACKUP LOG [%s] TO DISK = %s WITH INIT", db, lit(path))
}

// StmtTailLogBackup takes the tail-of-log backup and leaves the database
// RESTORING, so it can follow the new primary without a full restore (and
// takes no write from then on: the fence). BACKUP LOG ... WITH NORECOVERY
// needs exclusive access, and SINGLE_USER set from this master session does
// not keep the one slot for it, so the batch first kills every other
// session in the database (a pooled health probe may hold the slot), then
// sets SINGLE_USER and backs up at once. The database must not be
// READ_ONLY: a read-only database cannot be left RESTORING. Switchover
// retries the batch on ErrExclusiveAccess and ErrDatabaseInUse.
func StmtTailLogBackup(db, path string) string {
	return fmt.Sprintf("DECLARE @kill nvarchar(max) = N''; "+
		"SELECT @kill = @kill + N'KILL ' + CONVERT(nvarchar(10), session_id) + N' ' FROM sys.dm_exec_sessions WHERE database_id = DB_ID(%s) AND session_id <> @@SPID; "+
		"EXEC(@kill); "+
		"ALTER DATABASE [%s] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; "+
		"BACKUP LOG [%s] TO DISK = %s WITH INIT, NORECOVERY", lit(db), db, db, lit(path))
}

// StmtBackOnline brings a database that a tail-log backup left RESTORING
// back online, open to every user: the way back when a planned switch
// fails after its tail-log backup (nothing is lost: the tail is still in
// the database, and the backup stays a link of the log chain).
func StmtBackOnline(db string) string {
	return fmt.Sprintf("RESTORE DATABASE [%s] WITH RECOVERY; ALTER DATABASE [%s] SET MULTI_USER WITH ROLLBACK IMMEDIATE", db, db)
}

// StmtMultiUser opens the database to every user again (after a failed
// tail-log batch left it SINGLE_USER).
func StmtMultiUser(db string) string {
	return fmt.Sprintf("ALTER DATABASE [%s] SET MULTI_USER WITH ROLLBACK IMMEDIATE", db)
}

// StmtFence makes the primary refuse writes for a planned switch.
func StmtFence(db string) string {
	return fmt.Sprintf("ALTER DATABASE [%s] SET READ_ONLY WITH ROLLBACK IMMEDIATE", db)
}

// StmtDropDatabase drops the database a full restore is about to replace
// (an old primary that diverged), first dropping every connection to it
// when it is online.
func StmtDropDatabase(db string) string {
	return fmt.Sprintf("IF DB_ID(%s) IS NOT NULL BEGIN IF DATABASEPROPERTYEX(%s, 'Status') = 'ONLINE' ALTER DATABASE [%s] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [%s] END", lit(db), lit(db), db, db)
}

// StmtRestoreDatabaseNoRecovery restores a full backup as a standby that
// accepts log restores.
func StmtRestoreDatabaseNoRecovery(db, path string) string {
	return fmt.Sprintf("RESTORE DATABASE [%s] FROM DISK = %s WITH NORECOVERY, REPLACE", db, lit(path))
}

// StmtRestoreLog applies one log backup, keeping the database a standby.
func StmtRestoreLog(db, path string) string {
	return fmt.Sprintf("RESTORE LOG [%s] FROM DISK = %s WITH NORECOVERY", db, lit(path))
}

// StmtRestoreLogRecovery applies the tail-log backup and brings the database online.
func StmtRestoreLogRecovery(db, path string) string {
	return fmt.Sprintf("RESTORE LOG [%s] FROM DISK = %s WITH RECOVERY", db, lit(path))
}

// StmtRecover brings a standby online after the last restore.
func StmtRecover(db string) string {
	return fmt.Sprintf("RESTORE DATABASE [%s] WITH RECOVERY", db)
}

// StmtOpenForWrites undoes the fence and the tail-log backup's SINGLE_USER,
// which the restored log carries to the new primary.
func StmtOpenForWrites(db string) string {
	return fmt.Sprintf("ALTER DATABASE [%s] SET MULTI_USER WITH ROLLBACK IMMEDIATE; ALTER DATABASE [%s] SET READ_WRITE WITH ROLLBACK IMMEDIATE", db, db)
}

// QueryBackupOf reads the position of one backup file from msdb.backupset.
// Args: database name, physical file path.
const QueryBackupOf = `SELECT TOP 1 CONVERT(varchar(40), bs.last_lsn), bs.backup_start_date, bs.backup_finish_date
FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily bmf ON bs.media_set_id = bmf.media_set_id
WHERE bs.database_name = @p1 AND bmf.physical_device_name = @p2
ORDER BY bs.backup_set_id DESC`

// QueryLastLogBackup reads the newest log backup this server took of the
// database (not the backupset rows its restores created, which name files
// in the incoming directory). Args: database name, backup directory prefix.
const QueryLastLogBackup = `SELECT TOP 1 CONVERT(varchar(40), bs.last_lsn), bs.backup_start_date, bs.backup_finish_date
FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily bmf ON bs.media_set_id = bmf.media_set_id
WHERE bs.database_name = @p1 AND bs.type = 'L' AND bmf.physical_device_name LIKE @p2 + N'%'
ORDER BY bs.backup_set_id DESC`

// QueryRestored lists what this server restored into the database, newest
// first: file path, last LSN, the backup's start and finish dates and the
// restore date. Args: database name.
const QueryRestored = `SELECT bmf.physical_device_name, CONVERT(varchar(40), bs.last_lsn), bs.backup_start_date, bs.backup_finish_date, rh.restore_date
FROM msdb.dbo.restorehistory rh
JOIN msdb.dbo.backupset bs ON rh.backup_set_id = bs.backup_set_id
JOIN msdb.dbo.backupmediafamily bmf ON bs.media_set_id = bmf.media_set_id
WHERE rh.destination_database_name = @p1
ORDER BY rh.restore_history_id DESC`

// QueryLastCommitFor reads the newest commit record in the primary's active
// log (fn_dblog, in the database's context without changing the session's
// database): its LSN as "vlf:block:slot" in hex and its end time. The
// database name is part of the text.
func QueryLastCommitFor(db string) string {
	return fmt.Sprintf("EXEC [%s].sys.sp_executesql N'SELECT TOP 1 [Current LSN], [End Time] FROM sys.fn_dblog(NULL, NULL) WHERE Operation = N''LOP_COMMIT_XACT'' ORDER BY [Current LSN] DESC'", db)
}

// QueryState reads the database's state (ONLINE, RESTORING, ...). Args: database name.
const QueryState = `SELECT state_desc FROM sys.databases WHERE name = @p1`
