package harness

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/report"
)

// ErrNotARun is a folder without the result.json and history.jsonl a run
// writes; ErrNoEvidence a run folder without evidence.json (written by a
// bcdr that kept none, or a run that ended before its checks).
var (
	ErrNotARun    = errors.New("not a run folder")
	ErrNoEvidence = errors.New("no evidence.json")
)

// Rejudgement is a saved run judged again from its files alone.
type Rejudgement struct {
	// Saved is the run's result.json as it was written.
	Saved report.Result
	// Again is the judgement of the input rebuilt from history.jsonl and
	// evidence.json, by the checks evidence.json names.
	Again assertions.Judgement
	// Differences lists where Again differs from Saved (none: every
	// verdict and figure is the same).
	Differences []Difference
}

// Difference is one way a re-judged run differs from its saved result.
type Difference struct {
	// Check is the check's name, "" for the run's verdict.
	Check string
	// What is "verdict", "figure" (observed service seconds), "noise"
	// (noise service seconds) or "check" (judged on one side only).
	What         string
	Saved, Again string
}

func (d Difference) String() string {
	who := "the run"
	if d.Check != "" {
		who = d.Check
	}
	return fmt.Sprintf("%s: %s saved %s, re-judged %s", who, d.What, d.Saved, d.Again)
}

// Rejudge reads a run folder (history.jsonl, evidence.json, result.json),
// rebuilds the input its checks read, judges it as the run was judged
// (assertions.Judge, through JudgeScenario for a drill or a session) and
// compares the outcome with the saved result.json: per check its verdict,
// figure and noise band, and the run's verdict. Nothing else is read: the
// timing noise is measured again from the saved history.
func Rejudge(dir string) (*Rejudgement, error) {
	for _, f := range []string{report.ResultFile, report.HistoryFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("%s: %w: no %s (bcdr drill --out writes one)", dir, ErrNotARun, f)
		}
	}
	saved, err := report.ReadResult(dir)
	if err != nil {
		return nil, err
	}
	ev, err := report.ReadEvidence(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: the run kept no evidence of what its checks read (a run that ended before its checks, or one saved by an older bcdr), so it cannot be judged again", dir, ErrNoEvidence)
	}
	if err != nil {
		return nil, err
	}
	h, err := history.Load(filepath.Join(dir, report.HistoryFile))
	if err != nil {
		return nil, err
	}
	in, err := ev.Input(h)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", dir, report.EvidenceFile, err)
	}
	again := assertions.Judge(in, ev.Checks)
	return &Rejudgement{Saved: saved, Again: again, Differences: Compare(saved, again)}, nil
}

// Compare lists the differences between a saved result and a judgement:
// the run's verdict, and per check (by name) its verdict, observed figure
// and noise band, or its absence on one side.
func Compare(saved report.Result, again assertions.Judgement) []Difference {
	var out []Difference
	if saved.Verdict != again.Verdict {
		out = append(out, Difference{What: "verdict", Saved: string(saved.Verdict), Again: string(again.Verdict)})
	}
	seen := map[string]bool{}
	for _, s := range saved.Checks {
		seen[s.Name] = true
		a, ok := findCheck(again.Checks, s.Name)
		if !ok {
			out = append(out, Difference{Check: s.Name, What: "check", Saved: "judged (" + string(s.Verdict) + ")", Again: "not judged"})
			continue
		}
		if s.Verdict != a.Verdict {
			out = append(out, Difference{Check: s.Name, What: "verdict", Saved: string(s.Verdict), Again: string(a.Verdict)})
		}
		if s.ObservedServiceS != a.ObservedServiceS {
			out = append(out, Difference{Check: s.Name, What: "figure", Saved: secs(s.ObservedServiceS), Again: secs(a.ObservedServiceS)})
		}
		if s.NoiseServiceS != a.NoiseServiceS {
			out = append(out, Difference{Check: s.Name, What: "noise", Saved: secs(s.NoiseServiceS), Again: secs(a.NoiseServiceS)})
		}
	}
	for _, a := range again.Checks {
		if !seen[a.Name] {
			out = append(out, Difference{Check: a.Name, What: "check", Saved: "not judged", Again: "judged (" + string(a.Verdict) + ")"})
		}
	}
	return out
}

func secs(s float64) string { return fmt.Sprintf("%gs", s) }
