package pgship

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// clusterTemplate is a freshly initialised, configured, never started data
// directory kept in memory, so that the second and later pairs of a process
// copy it (tens of milliseconds) instead of running initdb (about 1.5 s).
// Nothing is written outside the pairs' work dirs.
type clusterTemplate struct {
	key     string // binary dir and configuration it was made with
	superPW string // the superuser password initdb was given
	entries []templateEntry
}

type templateEntry struct {
	rel  string
	mode fs.FileMode
	data []byte // nil for a directory
}

var templates struct {
	sync.Mutex
	t *clusterTemplate
}

func loadTemplate(key string) *clusterTemplate {
	templates.Lock()
	defer templates.Unlock()
	if templates.t != nil && templates.t.key == key {
		return templates.t
	}
	return nil
}

// saveTemplate remembers the data directory at dir (which must not be
// running) under key.
func saveTemplate(key, superPW, dir string) error {
	t := &clusterTemplate{key: key, superPW: superPW}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := templateEntry{rel: rel, mode: info.Mode().Perm()}
		switch {
		case d.IsDir():
		case info.Mode().IsRegular():
			if e.data, err = os.ReadFile(path); err != nil {
				return err
			}
			if e.data == nil {
				e.data = []byte{}
			}
		default:
			return nil // initdb makes only files and directories
		}
		t.entries = append(t.entries, e)
		return nil
	})
	if err != nil {
		return err
	}
	templates.Lock()
	templates.t = t
	templates.Unlock()
	return nil
}

// extract writes the template into dir (which exists), owned by u.
func (t *clusterTemplate) extract(dir string, u osUser) error {
	for _, e := range t.entries {
		path := filepath.Join(dir, e.rel)
		if e.data == nil {
			if e.rel != "." {
				if err := os.Mkdir(path, e.mode); err != nil {
					return err
				}
			}
		} else if err := os.WriteFile(path, e.data, e.mode); err != nil {
			return err
		}
		if err := os.Chmod(path, e.mode); err != nil {
			return err
		}
		if err := u.chown(path); err != nil {
			return err
		}
	}
	return nil
}
