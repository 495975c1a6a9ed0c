package report

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bcdr-harness/bcdr/history"
)

// The files of a run's output folder.
const (
	ResultFile  = "result.json"
	HistoryFile = "history.jsonl"
	JUnitFile   = "junit.xml"
	HTMLFile    = "report.html"
)

// WriteAll writes every file of a run into dir: result.json, history.jsonl,
// junit.xml and report.html. It creates dir when missing.
func WriteAll(dir string, r Result, h history.History) error {
	if err := WriteResult(dir, r); err != nil {
		return fmt.Errorf("write run %s: %w", dir, err)
	}
	if err := h.Save(filepath.Join(dir, HistoryFile)); err != nil {
		return fmt.Errorf("write run %s: %w", dir, err)
	}
	return renderFiles(dir, r, h)
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
