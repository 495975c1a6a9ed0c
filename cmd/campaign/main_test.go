package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// An interrupted campaign hands its drill one SIGINT and waits for it to
// tear down, rather than killing it (which left containers behind).
func TestStopGentlyForwardsInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// The child says when it is ready, and on SIGINT cleans up and says so.
	cmd := exec.CommandContext(ctx, "sh", "-c", `trap 'echo torn-down; exit 3' INT; echo ready; while :; do sleep 0.05; done`)
	stopGently(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "ready") {
		t.Fatalf("child did not start: %q", buf[:n])
	}
	cancel()
	var rest strings.Builder
	for {
		n, err := out.Read(buf)
		rest.Write(buf[:n])
		if err != nil {
			break
		}
	}
	werr := cmd.Wait()
	if !strings.Contains(rest.String(), "torn-down") {
		t.Fatalf("the child was not interrupted, it said %q (wait: %v)", rest.String(), werr)
	}
	if ee, ok := werr.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("the child did not end by its own handler: %v", werr)
	}
}
