package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/history"
)

// The files of a run's output folder.
const (
	ResultFile  = "result.json"
	HistoryFile = "history.jsonl"
	JUnitFile   = "junit.xml"
	HTMLFile    = "report.html"
	// EvidenceFile holds what the checks read besides the history
	// (assertions.Evidence): with history.jsonl, enough to judge the run
	// again (bcdr check).
	EvidenceFile = "evidence.json"
)

// WriteAll writes every file of a run into dir: result.json, history.jsonl,
// junit.xml and report.html, without evidence (WriteRun with nil).
func WriteAll(dir string, r Result, h history.History) error {
	return WriteRun(dir, r, h, nil)
}

// WriteRun writes every file of a run into dir: result.json,
// history.jsonl, evidence.json (when ev is not nil; a stale one is
// removed otherwise, so a folder never pairs a result with another run's
// evidence), junit.xml and report.html. It creates dir when missing.
func WriteRun(dir string, r Result, h history.History, ev *assertions.Evidence) error {
	if err := WriteResult(dir, r); err != nil {
		return fmt.Errorf("write run %s: %w", dir, err)
	}
	if err := h.Save(filepath.Join(dir, HistoryFile)); err != nil {
		return fmt.Errorf("write run %s: %w", dir, err)
	}
	if ev != nil {
		if err := WriteEvidence(dir, *ev); err != nil {
			return fmt.Errorf("write run %s: %w", dir, err)
		}
	} else if err := os.Remove(filepath.Join(dir, EvidenceFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write run %s: %w", dir, err)
	}
	return renderFiles(dir, r, h)
}

// WriteEvidence writes evidence.json into dir.
func WriteEvidence(dir string, ev assertions.Evidence) error {
	b, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return fmt.Errorf("write evidence: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, EvidenceFile), append(b, '\n'), 0o644)
}

// ReadEvidence reads dir/evidence.json. A folder without one gives an
// error that wraps fs.ErrNotExist.
func ReadEvidence(dir string) (assertions.Evidence, error) {
	var ev assertions.Evidence
	p := filepath.Join(dir, EvidenceFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return ev, fmt.Errorf("read evidence: %w", err)
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return ev, fmt.Errorf("read evidence %s: %w", p, err)
	}
	return ev, nil
}

// Render writes junit.xml and report.html again from the result.json and
// history.jsonl saved in dir, as `bcdr report DIR` does.
func Render(dir string) error {
	r, err := ReadResult(dir)
	if err != nil {
		return fmt.Errorf("render %s: %w", dir, err)
	}
	h, err := history.Load(filepath.Join(dir, HistoryFile))
	if err != nil {
		return fmt.Errorf("render %s: %w", dir, err)
	}
	return renderFiles(dir, r, h)
}

func renderFiles(dir string, r Result, h history.History) error {
	if err := writeFile(filepath.Join(dir, JUnitFile), func(w io.Writer) error { return WriteJUnit(w, r) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, HTMLFile), func(w io.Writer) error { return WriteHTML(w, r, h) })
}

// writeFile renders into memory first, so a failed render leaves no torn file.
func writeFile(path string, render func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
