// Package control keeps an environment that `bcdr up` stood up running and
// lets later commands act on it: `bcdr inject`, `recover`, `status` and
// `down` talk to a small HTTP API on loopback, authenticated by a random
// token. The API's address, the token and the environment's credentials are
// written to a state file that only the user can read (mode 0600, in a 0700
// directory, ./.bcdr by default); whoever can read that file can drive the
// environment, and nobody else can.
//
// The API (every request carries "Authorization: Bearer TOKEN"):
//
//	GET  /v1/status          regions, roles, active region, limited mode, lag, instances, faults
//	GET  /v1/faults          the faults injected and not yet recovered
//	POST /v1/faults          {"name": "wan-partition", "params": {...}}: inject
//	POST /v1/recover         {"target": "ID|NAME|all"}: recover
//	POST /v1/down            tear the environment down and exit
package control

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// StateFile is the name of the state file inside the state directory.
const StateFile = "env.json"

// LogFile is where a detached `bcdr up` writes its output.
const LogFile = "up.log"

// RegionEndpoints are the ways into one region.
type RegionEndpoints struct {
	// LoadBalancer is the region's load balancer (bypasses the client link).
	LoadBalancer string `json:"load_balancer"`
	// Client is the region as the front door reaches it (through the client link).
	Client string `json:"client,omitempty"`
	// SQL is a connection string for the region's database, with its password.
	SQL string `json:"sql,omitempty"`
}

// State is what `bcdr up` leaves for the other commands.
type State struct {
	Pid       int       `json:"pid"`
	Control   string    `json:"control"` // host:port of the control API on loopback
	Token     string    `json:"token"`
	Started   time.Time `json:"started"`
	Scenario  string    `json:"scenario"`
	Provider  string    `json:"provider"`
	SQLEngine string    `json:"sql_engine"`
	TimeScale float64   `json:"time_scale"`
	// Router is the front door clients use.
	Router  string                     `json:"router"`
	Regions map[string]RegionEndpoints `json:"regions"`
	// S3 are the blob stores' application credentials.
	S3AccessKey string `json:"s3_access_key,omitempty"`
	S3Secret    string `json:"s3_secret,omitempty"`
	S3Bucket    string `json:"s3_bucket,omitempty"`
	// Log is the detached process's output, when detached.
	Log string `json:"log,omitempty"`
	// Out is the run folder the session's history is saved in at teardown.
	Out string `json:"out,omitempty"`
}

// NewToken returns a random bearer token.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("control token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// PrepareDir creates the state directory readable only by the user.
func PrepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return nil
}

// WriteState writes the state file atomically with mode 0600.
func WriteState(dir string, st State) error {
	if err := PrepareDir(dir); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".env-*.json")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

// ErrNoState means no environment was stood up under the state directory.
var ErrNoState = errors.New("no environment is up")

// ReadState reads the state file. It refuses a file that others can read,
// since it holds the token and the credentials.
func ReadState(dir string) (State, error) {
	var st State
	path := filepath.Join(dir, StateFile)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("%w under %s (bcdr up starts one)", ErrNoState, dir)
	}
	if err != nil {
		return st, fmt.Errorf("state file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return st, fmt.Errorf("state file %s is readable by others (mode %v); refusing to use it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return st, fmt.Errorf("state file: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("state file %s: %w", path, err)
	}
	return st, nil
}

// RemoveState removes the state file.
func RemoveState(dir string) error {
	err := os.Remove(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Alive tells whether a process with the pid exists (and is not a zombie).
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: trust kill(0)
	}
	// pid (comm) S ...: the state follows the last ')'.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			if i+2 < len(b) {
				return b[i+2] != 'Z' && b[i+2] != 'X'
			}
			break
		}
	}
	return true
}
