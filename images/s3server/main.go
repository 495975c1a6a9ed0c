// Command s3server is the S3 store of the local-images mode: gofakes3 (MIT)
// over a bbolt file, so a region's documents survive a container kill and
// restart as a real store's disks would. It creates the bucket at start and,
// like the embedded default's store, refuses application writes while the
// bucket is a read-only replica; the replicator's access key may always
// write. The read-only flag lives next to the data and is switched with
// PUT /_bcdr/readonly (body "true" or "false").
//
// Configuration, by environment:
//
//	BCDR_S3_LISTEN          address to serve (default ":9000")
//	BCDR_S3_DATA            data directory (default "/data")
//	BCDR_S3_BUCKET          bucket to create (default "finance-documents")
//	BCDR_S3_REPLICATOR_KEY  access key that may write a read-only bucket
//	                        (default "bcdr-replicator")
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func accessKey(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return ""
	}
	cred := auth[i+len("Credential="):]
	if j := strings.IndexByte(cred, '/'); j >= 0 {
		return cred[:j]
	}
	return cred
}

func main() {
	listen := env("BCDR_S3_LISTEN", ":9000")
	dir := env("BCDR_S3_DATA", "/data")
	bucket := env("BCDR_S3_BUCKET", "finance-documents")
	replicator := env("BCDR_S3_REPLICATOR_KEY", "bcdr-replicator")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatalf("s3server: data directory: %v", err)
	}
	be, err := s3bolt.NewFile(filepath.Join(dir, "s3.bolt"))
	if err != nil {
		log.Fatalf("s3server: open store: %v", err)
	}
	if err := be.CreateBucket(bucket); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
		log.Fatalf("s3server: create bucket %s: %v", bucket, err)
	}
	flag := filepath.Join(dir, "readonly")
	var readOnly atomic.Bool
	if b, err := os.ReadFile(flag); err == nil {
		readOnly.Store(strings.TrimSpace(string(b)) == "true")
	}
	s3 := gofakes3.New(be, gofakes3.WithTimeSkewLimit(0)).Server()
	mux := http.NewServeMux()
	mux.HandleFunc("/_bcdr/health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok readonly=%t\n", readOnly.Load())
	})
	mux.HandleFunc("/_bcdr/readonly", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			b, _ := io.ReadAll(io.LimitReader(r.Body, 16))
			on := strings.TrimSpace(string(b)) == "true"
			if err := os.WriteFile(flag, []byte(fmt.Sprint(on)), 0o644); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			readOnly.Store(on)
		}
		fmt.Fprintf(w, "%t\n", readOnly.Load())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		write := r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodDelete
		if write && readOnly.Load() && accessKey(r) != replicator {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>replica bucket is read-only</Message></Error>`)
			return
		}
		s3.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("s3server: serving bucket %s from %s on %s", bucket, dir, listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("s3server: %v", err)
	}
}
