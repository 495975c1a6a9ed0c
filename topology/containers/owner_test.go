package containers

import (
	"context"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/topology"
)

// A container is the run's only while it carries the run's label; one
// without it, or with another run's, is refused (no Docker needed: the
// label check and the registry are read without an engine here).
func TestOwnershipOfContainers(t *testing.T) {
	if err := checkRunLabel(map[string]string{LabelRun: "r1", LabelCreator: "bcdr"}, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := checkRunLabel(map[string]string{"app": "prod-db"}, "r1"); err == nil || !strings.Contains(err.Error(), "no bcdr.run label") {
		t.Fatalf("unlabelled: %v", err)
	}
	if err := checkRunLabel(map[string]string{LabelRun: "r2"}, "r1"); err == nil || !strings.Contains(err.Error(), "another run's") {
		t.Fatalf("other run: %v", err)
	}
	e := &Env{runID: "r1"}
	e.reg = topology.NewRegistry(e.runID)
	err := e.Owns(context.Background(), topology.Target{Kind: topology.TargetContainer, ID: "0123456789ab", Name: "prod-db"})
	if err == nil || !strings.Contains(err.Error(), "0123456789ab") || !strings.Contains(err.Error(), "run r1") {
		t.Fatalf("unregistered container: %v", err)
	}
}
