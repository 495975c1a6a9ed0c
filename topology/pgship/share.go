package pgship

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// shareServer is a region's log share: an HTTP server on 127.0.0.1 that
// accepts uploaded log backup files (PUT /wal/NAME) into the region's share
// directory. A file appears under its name only once complete and verified.
type shareServer struct {
	dir string
	ln  net.Listener
	srv *http.Server
	seq atomic.Uint64
}

const checksumHeader = "X-Content-Sha256"

func startShareServer(dir string) (*shareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for share server: %w", err)
	}
	s := &shareServer{dir: dir, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /wal/{name}", s.put)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *shareServer) addr() string { return s.ln.Addr().String() }

func (s *shareServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

func (s *shareServer) put(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !shippable(name) || strings.ContainsAny(name, `/\`) {
		http.Error(w, "not a log backup file name", http.StatusBadRequest)
		return
	}
	tmp := filepath.Join(s.dir, fmt.Sprintf(".incoming-%d-%s", s.seq.Add(1), name))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && r.ContentLength >= 0 && n != r.ContentLength {
		err = fmt.Errorf("short upload: %d of %d bytes", n, r.ContentLength)
	}
	if want := r.Header.Get(checksumHeader); err == nil && want != "" && want != hex.EncodeToString(h.Sum(nil)) {
		err = errors.New("checksum mismatch")
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// uploadFile sends one file to the share server at addr.
func uploadFile(ctx context.Context, client *http.Client, addr, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+addr+"/wal/"+filepath.Base(path), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(data))
	req.Header.Set(checksumHeader, hex.EncodeToString(sum[:]))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("share server at %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
