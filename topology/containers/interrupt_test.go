package containers

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/clock"
)

// TestHelperUp is not a test: the interrupt tests run it in a child process.
func TestHelperUp(t *testing.T) {
	if os.Getenv("BCDR_CONTAINERS_HELPER") != "1" {
		t.Skip("helper process for the interrupt tests")
	}
	e, err := Up(context.Background(), testSpec(), clock.New(100))
	if err == nil {
		fmt.Println("UP")
		time.Sleep(time.Minute)
		_ = e.Close(context.Background())
	}
}

// startHelper runs Up in a child process with a known run id and returns
// once the first container of the run exists.
func startHelper(t *testing.T, runID string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperUp$", "-test.v")
	cmd.Env = append(os.Environ(), "BCDR_CONTAINERS_HELPER=1", "BCDR_RUN_ID="+runID, "BCDR_LOCAL_IMAGES=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	go func() { // drain
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "FAIL") || strings.Contains(sc.Text(), "panic") {
				t.Log("helper:", sc.Text())
			}
		}
	}()
	require.Eventually(t, func() bool {
		c, _, _, err := Leftovers(context.Background(), runID)
		return err == nil && c >= 2
	}, 60*time.Second, 50*time.Millisecond, "the helper never created a container")
	return cmd
}

func waitGone(t *testing.T, runID string, d time.Duration) {
	t.Helper()
	var c, n, v int
	require.Eventually(t, func() bool {
		var err error
		c, n, v, err = Leftovers(context.Background(), runID)
		return err == nil && c+n+v == 0
	}, d, 200*time.Millisecond, "run %s left %d containers, %d networks, %d volumes", runID, c, n, v)
}

// A run interrupted (Ctrl-C) while it is being built removes what it created.
func TestInterruptedRunLeavesNothing(t *testing.T) {
	requireDocker(t)
	runID := fmt.Sprintf("bcdr-test-int-%d", time.Now().UnixNano())
	cmd := startHelper(t, runID)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	t.Logf("helper exited: %v", err)
	waitGone(t, runID, 30*time.Second)
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), workDirPrefix+runID+"-*"))
	require.Empty(t, dirs, "the interrupted run removed its work directory")
}

// A run killed outright leaves its containers; Clean (bcdr clean) removes them.
func TestCleanAfterKilledRun(t *testing.T) {
	requireDocker(t)
	runID := fmt.Sprintf("bcdr-test-kill-%d", time.Now().UnixNano())
	cmd := startHelper(t, runID)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	time.Sleep(time.Second) // let a creation in flight land
	c, n, _, err := Leftovers(context.Background(), runID)
	require.NoError(t, err)
	require.Positive(t, c+n, "a killed run leaves its containers behind")
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), workDirPrefix+runID+"-*"))
	require.Len(t, dirs, 1, "the killed run's work directory")
	require.NoError(t, Clean(context.Background(), runID))
	waitGone(t, runID, 10*time.Second)
	_, err = os.Stat(dirs[0])
	require.True(t, os.IsNotExist(err), "Clean removes the work directory of a killed run")
}
