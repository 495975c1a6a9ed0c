package sqlserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Share is a directory of backup files as the harness sees it: a region's
// own backup directory read across the WAN by the other region's copy job,
// or a region's incoming directory that the copy job writes into.
type Share interface {
	// List returns the file names in the share, sorted.
	List(ctx context.Context) ([]string, error)
	// Open reads one file.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// WritableShare is a share the copy job can write into.
type WritableShare interface {
	Share
	// Put stores a file atomically: readers never see a partial file.
	Put(ctx context.Context, name string, r io.Reader) error
}

// DirShare is a share in a directory of this machine (for containers, the
// host side of a bind mount). Files are written readable by every user so
// that SQL Server, running as uid 10001, can restore them.
type DirShare struct{ Path string }

// List implements Share.
func (d DirShare) List(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(d.Path)
	if err != nil {
		return nil, fmt.Errorf("list share %s: %w", d.Path, err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Open implements Share.
func (d DirShare) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return os.Open(filepath.Join(d.Path, name))
}

// Put implements WritableShare.
func (d DirShare) Put(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.Path, ".part-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, &ctxReader{ctx: ctx, r: r}); err != nil {
		tmp.Close()
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.Path, name)); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("bad backup file name %q", name)
	}
	return nil
}

// ShareHandler serves a share over HTTP: GET / lists the names as a JSON
// array, GET /<name> returns the file. A region runs one for its backup
// directory; the other region reads it through the WAN link.
func ShareHandler(s Share) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" {
			names, err := s.List(r.Context())
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if names == nil {
				names = []string{}
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(names)
			return
		}
		f, err := s.Open(r.Context(), name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, f)
	})
}

// HTTPShare reads a share served by ShareHandler, typically through a
// Toxiproxy link so that the bytes of every copied log backup cross the
// faultable WAN.
type HTTPShare struct {
	// BaseURL is e.g. "http://127.0.0.1:31234".
	BaseURL string
	Client  *http.Client
}

func (h HTTPShare) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return http.DefaultClient
}

// List implements Share.
func (h HTTPShare) List(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(h.BaseURL, "/")+"/", nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("list remote share %s: %w", h.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list remote share %s: status %s", h.BaseURL, resp.Status)
	}
	var names []string
	if err := json.NewDecoder(resp.Body).Decode(&names); err != nil {
		return nil, fmt.Errorf("list remote share %s: %w", h.BaseURL, err)
	}
	sort.Strings(names)
	return names, nil
}

// Open implements Share. The whole file must arrive: a short body (a cut
// link) is reported as an error by the reader.
func (h HTTPShare) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(h.BaseURL, "/")+"/"+url.PathEscape(name), nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s from remote share: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("fetch %s from remote share: status %s", name, resp.Status)
	}
	return resp.Body, nil
}
