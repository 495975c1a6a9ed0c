package containers

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/blob"
	"github.com/bcdr-harness/bcdr/topology/miniorepl"
)

// startMinIO runs a MinIO container per region with MinIO's own bucket
// replication from A to B (topology/miniorepl, configured with mc inside
// the containers), addressed across the WAN proxy, so a WAN fault stalls
// it. Every key is random to the run: the root user, the replication user
// the rule signs in with, the application's user (read-write on the source,
// read-only on the destination) and the snapshots' reader.
func (e *Env) startMinIO(ctx context.Context) error {
	rootKey, rootSecret := "bcdr-root-"+blob.Secret(4), blob.Secret(20)
	sites := map[topology.RegionName]miniorepl.Site{}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		hp, err := freePort()
		if err != nil {
			return err
		}
		base := fmt.Sprintf("http://127.0.0.1:%d", hp)
		ready := func(ctx context.Context) error { return miniorepl.Ready(ctx, base) }
		c, err := run(ctx, ctrSpec{
			Name: e.name("s3-" + string(r)), Image: e.images.MinIO, Labels: e.regionLabels(r, "blob"),
			Cmd:   []string{"server", "/data"},
			Env:   minioEnv(rootKey, rootSecret),
			Ports: map[string]int{"9000/tcp": hp},
			// The objects live in the region's host directory, as
			// PostgreSQL's data does (pgDataDir): not on the container's
			// own, possibly fuse-overlayfs, filesystem.
			Binds:    []string{filepath.Join(e.workDir, string(r), "s3") + ":/data"},
			Networks: map[string][]string{e.nets[r]: {"s3-" + string(r)}},
			// Ready only once MinIO has loaded its IAM data: mc's admin
			// commands wait silently until then.
			Ready: ready,
		})
		e.track(c)
		if err != nil {
			return err
		}
		st := &s3Store{region: r, c: c, port: hp, wanPort: e.wanHostPort(portWANBlob, r), ready: ready}
		e.s3s[r] = st
		cl, err := blob.Client(st.addr(), rootKey, rootSecret)
		if err != nil {
			return err
		}
		exec := miniorepl.ExecFunc(func(ctx context.Context, cmd []string) (string, error) { return c.Exec(ctx, cmd, "") })
		sites[r] = miniorepl.Site{Region: r, Client: cl, Exec: exec, LocalURL: "http://127.0.0.1:9000",
			PeerEndpoint: fmt.Sprintf("toxiproxy:%d", toxiPort(portWANBlob, r.Other())),
			Diagnose: func(ctx context.Context) string {
				state := "ready"
				if err := ready(ctx); err != nil {
					state = err.Error()
				}
				return fmt.Sprintf("MinIO now: %s; its log: %s", state, c.logTail(ctx))
			}}
	}
	repl, err := miniorepl.New(miniorepl.Config{
		Bucket: blob.Bucket, AccessKey: rootKey, Secret: rootSecret,
		ReplAccessKey: "bcdr-repl-" + blob.Secret(4), ReplSecret: blob.Secret(20),
		AppAccessKey: e.blobCreds.AppAccessKey, AppSecret: e.blobCreds.AppSecret,
		Source: sites[topology.RegionA], Dest: sites[topology.RegionB], SyncTimeout: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	if err := repl.Setup(ctx); err != nil {
		return fmt.Errorf("minio replication: %w", err)
	}
	// The snapshots list and read both buckets with the replicator's key
	// (MinIO's built-in readonly policy cannot list a bucket).
	if err := repl.AddUser(ctx, e.blobCreds.ReplicatorAccessKey, e.blobCreds.ReplicatorSecret, "readwrite"); err != nil {
		return fmt.Errorf("minio snapshot reader: %w", err)
	}
	e.blobRepl = repl
	return nil
}

// minioEnv is a MinIO server's environment: its root user and what
// miniorepl.Ready reads.
func minioEnv(rootKey, rootSecret string) map[string]string {
	env := map[string]string{"MINIO_ROOT_USER": rootKey, "MINIO_ROOT_PASSWORD": rootSecret}
	for k, v := range miniorepl.ReadyEnv {
		env[k] = v
	}
	return env
}
