package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/history"
)

// A scenario written with ScenarioFile reads back as the same scenario, a
// fault that waits for the failback and expectations included.
func TestScenarioFileRoundTrip(t *testing.T) {
	base := DefaultScenario()
	sc := base
	sc.Name = "sql-crash-during-failback"
	sc.Description = "region a lost, then SQL in b crashes while failing back"
	sc.Seed = 7
	sc.Spec.InstancesPerRegion = 5
	sc.Runbook.DecisionWindow = 15 * time.Minute
	sc.Scale = 150
	sc.Faults = append(append([]FaultStep(nil), base.Faults...), FaultStep{Name: "sql-primary-crash",
		Params: map[string]string{"region": "b"}, At: 2 * time.Minute, Duration: 10 * time.Minute, After: history.EvFailbackStart})
	sc.Checks = []string{"validity", "rpo", "failback-loss", "failback-interruption"}
	sc.Expect = map[string]assertions.Verdict{"failback-interruption": assertions.Fail}

	data, err := ScenarioFile(sc, base)
	require.NoError(t, err)
	got, gotBase, err := ParseScenarioFile("replay.yaml", data)
	require.NoError(t, err, "%s", data)
	require.Equal(t, base.Name, gotBase.Name)
	require.Equal(t, sc, got, "%s", data)
	require.Contains(t, string(data), "after: failback-start")
	require.NotContains(t, string(data), "provider:", "knobs equal to the base's are left out")

	// The base itself writes as little more than its name and seed.
	data, err = ScenarioFile(base, base)
	require.NoError(t, err)
	got, _, err = ParseScenarioFile("base.yaml", data)
	require.NoError(t, err)
	require.Equal(t, base, got, "%s", data)
}

// An empty description is written as such: left out, the file would read
// back with the base's description (found by FuzzScenarioFile).
func TestScenarioFileRoundTripKeepsAnEmptyDescription(t *testing.T) {
	base := DefaultScenario()
	require.NotEmpty(t, base.Description, "the test needs a base with a description")
	sc := base
	sc.Name = "x"
	sc.Description = ""
	data, err := ScenarioFile(sc, base)
	require.NoError(t, err)
	require.Contains(t, string(data), "description: \"\"")
	got, _, err := ParseScenarioFile("replay.yaml", data)
	require.NoError(t, err, "%s", data)
	require.Equal(t, sc, got, "%s", data)
}
