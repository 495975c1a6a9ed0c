// Package miniorepl is blob replication done by MinIO itself, behind
// topology.Replication: a versioned bucket in each region and a MinIO
// bucket-replication rule from the source to the destination, configured
// with the mc binary that the MinIO image ships, run inside the source's
// container (MinIO server and madmin-go are AGPL: this package never
// imports them, it only runs the separate program).
//
// The rule names the destination by an address across the WAN link, so
// replicated bytes cross the faultable path. Status is read with minio-go:
// the objects of the source that the destination lacks (the pending set and
// its oldest member) and MinIO's own replication metrics for failures.
package miniorepl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/bcdr-harness/bcdr/topology"
)

// Image is the MinIO image the containers provider runs for this mode.
const Image = "minio/minio:latest"

// mcConfigDir keeps mc's aliases apart from anything in the image.
const mcConfigDir = "/tmp/bcdr-mc"

// selfAlias is the mc alias of the MinIO server a command runs next to.
const selfAlias = "self"

// Exec runs a command inside one MinIO container and returns its output.
// A non-zero exit is an error carrying the output.
type Exec interface {
	Exec(ctx context.Context, cmd []string) (string, error)
}

// ExecFunc adapts a function to Exec.
type ExecFunc func(ctx context.Context, cmd []string) (string, error)

// Exec implements Exec.
func (f ExecFunc) Exec(ctx context.Context, cmd []string) (string, error) { return f(ctx, cmd) }

// Site is one region's MinIO server.
type Site struct {
	Region topology.RegionName
	// Client reaches the server from the harness (a published port).
	Client *minio.Client
	// Exec runs mc inside the server's container.
	Exec Exec
	// LocalURL is the server as mc inside its own container reaches it,
	// e.g. http://127.0.0.1:9000.
	LocalURL string
	// PeerEndpoint is the *other* region's server as this container reaches
	// it across the WAN link (host:port of a Toxiproxy proxy).
	PeerEndpoint string
}

// Config configures replication between two sites.
type Config struct {
	Bucket string
	// AccessKey and Secret are the root credentials mc uses.
	AccessKey, Secret string
	// AppAccessKey and AppSecret, when set, are the application's user
	// (the AOS stubs' credentials): readwrite on the source bucket's server,
	// readonly on the destination's, switched with the roles. This is how
	// the destination stays read-only to everyone but the replicator.
	AppAccessKey, AppSecret string
	Source, Dest            Site
	// SyncTimeout bounds how long SyncNow and Failback wait for the
	// pending set to drain (default 30 s wall).
	SyncTimeout time.Duration
	// PollInterval is how often the pending set is read while waiting
	// (default 200 ms).
	PollInterval time.Duration
}

// Replication is MinIO bucket replication between two regions. It
// implements topology.Replication.
type Replication struct {
	cfg   Config
	sites map[topology.RegionName]*Site

	mu          sync.Mutex
	src, dst    topology.RegionName
	replicating bool
	errors      int
	lastSync    time.Time
	last        topology.ReplicationStatus
}

var _ topology.Replication = (*Replication)(nil)

// New checks the configuration; Setup creates the buckets and the rule.
func New(cfg Config) (*Replication, error) {
	if cfg.Bucket == "" || cfg.AccessKey == "" || cfg.Secret == "" {
		return nil, errors.New("minio replication: bucket, access key and secret are required")
	}
	if cfg.Source.Region == cfg.Dest.Region {
		return nil, fmt.Errorf("minio replication: source and destination are both region %q", cfg.Source.Region)
	}
	for _, s := range []Site{cfg.Source, cfg.Dest} {
		if s.Client == nil || s.Exec == nil || s.LocalURL == "" || s.PeerEndpoint == "" {
			return nil, fmt.Errorf("minio replication: site %q needs a client, an exec, a local URL and a peer endpoint", s.Region)
		}
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 30 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	src, dst := cfg.Source, cfg.Dest
	return &Replication{
		cfg:   cfg,
		sites: map[topology.RegionName]*Site{src.Region: &src, dst.Region: &dst},
		src:   src.Region,
		dst:   dst.Region,
	}, nil
}

func (r *Replication) mc(args ...string) []string {
	return append([]string{"mc", "--config-dir", mcConfigDir, "--quiet"}, args...)
}

// AliasCommand is the mc command that names a site's own server.
func (r *Replication) AliasCommand(s *Site) []string {
	return r.mc("alias", "set", selfAlias, s.LocalURL, r.cfg.AccessKey, r.cfg.Secret)
}

// AddRuleCommand is the mc command that replicates from's bucket to the
// other site's bucket, addressed across the WAN.
func (r *Replication) AddRuleCommand(from *Site) []string {
	remote := url.URL{
		Scheme: "http",
		User:   url.UserPassword(r.cfg.AccessKey, r.cfg.Secret),
		Host:   from.PeerEndpoint,
		Path:   "/" + r.cfg.Bucket,
	}
	return r.mc("replicate", "add", selfAlias+"/"+r.cfg.Bucket,
		"--remote-bucket", remote.String(),
		"--replicate", "existing-objects,delete,delete-marker",
		"--priority", "1")
}

// RemoveRulesCommand is the mc command that removes every replication rule
// of a site's bucket.
func (r *Replication) RemoveRulesCommand() []string {
	return r.mc("replicate", "rm", "--all", "--force", selfAlias+"/"+r.cfg.Bucket)
}

// ResyncCommand is the mc command that replicates the objects that existed
// before the rule to the target arn.
func (r *Replication) ResyncCommand(arn string) []string {
	return r.mc("replicate", "resync", "start", selfAlias+"/"+r.cfg.Bucket, "--remote-bucket", arn)
}

func (r *Replication) run(ctx context.Context, s *Site, what string, cmd []string) error {
	out, err := s.Exec.Exec(ctx, cmd)
	if err != nil {
		return fmt.Errorf("%s in region %s: %w: %s", what, s.Region, err, strings.TrimSpace(out))
	}
	return nil
}

// UserAddCommand is the mc command that creates the application user.
func (r *Replication) UserAddCommand() []string {
	return r.mc("admin", "user", "add", selfAlias, r.cfg.AppAccessKey, r.cfg.AppSecret)
}

// PolicyCommand attaches or detaches a built-in policy (readwrite,
// readonly) for the application user.
func (r *Replication) PolicyCommand(verb, policy string) []string {
	return r.mc("admin", "policy", verb, selfAlias, policy, "--user", r.cfg.AppAccessKey)
}

// setWritable gives the application user read-write or read-only access
// on a site. Detaching a policy the user does not have fails harmlessly.
func (r *Replication) setWritable(ctx context.Context, s *Site, writable bool) error {
	if r.cfg.AppAccessKey == "" {
		return nil
	}
	grant, revoke := "readonly", "readwrite"
	if writable {
		grant, revoke = "readwrite", "readonly"
	}
	_, _ = s.Exec.Exec(ctx, r.PolicyCommand("detach", revoke))
	out, err := s.Exec.Exec(ctx, r.PolicyCommand("attach", grant))
	if err != nil && !strings.Contains(strings.ToLower(out), "already") {
		return fmt.Errorf("mc admin policy attach %s in region %s: %w: %s", grant, s.Region, err, strings.TrimSpace(out))
	}
	return nil
}

// Setup creates a versioned bucket in both regions, the application user
// (read-write on the source, read-only on the destination) and the
// replication rule from the source to the destination.
func (r *Replication) Setup(ctx context.Context) error {
	src, dst := r.sites[r.src], r.sites[r.dst]
	for _, s := range []*Site{src, dst} {
		if err := ensureVersionedBucket(ctx, s.Client, r.cfg.Bucket); err != nil {
			return fmt.Errorf("bucket %s in region %s: %w", r.cfg.Bucket, s.Region, err)
		}
		if err := r.run(ctx, s, "mc alias set", r.AliasCommand(s)); err != nil {
			return err
		}
		if r.cfg.AppAccessKey != "" {
			if err := r.run(ctx, s, "mc admin user add", r.UserAddCommand()); err != nil {
				return err
			}
			if err := r.setWritable(ctx, s, s == src); err != nil {
				return err
			}
		}
	}
	if err := r.startRule(ctx, src, false); err != nil {
		return err
	}
	r.mu.Lock()
	r.replicating = true
	r.mu.Unlock()
	return nil
}

func ensureVersionedBucket(ctx context.Context, c *minio.Client, bucket string) error {
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("check bucket: %w", err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			return fmt.Errorf("make bucket: %w", err)
		}
	}
	if err := c.EnableVersioning(ctx, bucket); err != nil {
		return fmt.Errorf("enable versioning: %w", err)
	}
	return nil
}

// startRule adds the replication rule on from (whose mc alias is set),
// and with resync also replicates what existed before the rule.
func (r *Replication) startRule(ctx context.Context, from *Site, resync bool) error {
	if err := r.run(ctx, from, "mc replicate add", r.AddRuleCommand(from)); err != nil {
		return err
	}
	if !resync {
		return nil
	}
	arn, err := r.ruleTarget(ctx, from)
	if err != nil {
		return err
	}
	return r.run(ctx, from, "mc replicate resync start", r.ResyncCommand(arn))
}

// ruleTarget reads, with minio-go, the target arn of from's replication rule.
func (r *Replication) ruleTarget(ctx context.Context, from *Site) (string, error) {
	cfg, err := from.Client.GetBucketReplication(ctx, r.cfg.Bucket)
	if err != nil {
		return "", fmt.Errorf("read replication rule of region %s: %w", from.Region, err)
	}
	for _, rule := range cfg.Rules {
		if arn := rule.Destination.Bucket; arn != "" {
			return arn, nil
		}
	}
	return "", fmt.Errorf("region %s has no replication rule", from.Region)
}

// pending lists the source's objects that the destination lacks (by key
// and ETag) and the oldest of their modification times.
func (r *Replication) pending(ctx context.Context, src, dst *Site) (int, time.Time, error) {
	have := map[string]string{}
	for o := range dst.Client.ListObjects(ctx, r.cfg.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return 0, time.Time{}, fmt.Errorf("list bucket in region %s: %w", dst.Region, o.Err)
		}
		have[o.Key] = o.ETag
	}
	n := 0
	var oldest time.Time
	for o := range src.Client.ListObjects(ctx, r.cfg.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return 0, time.Time{}, fmt.Errorf("list bucket in region %s: %w", src.Region, o.Err)
		}
		if etag, ok := have[o.Key]; ok && etag == o.ETag {
			continue
		}
		n++
		if oldest.IsZero() || o.LastModified.Before(oldest) {
			oldest = o.LastModified
		}
	}
	return n, oldest, nil
}

// Status implements topology.Replication. When a region cannot be read the
// last known status is returned with the error counted.
func (r *Replication) Status(ctx context.Context) (topology.ReplicationStatus, error) {
	r.mu.Lock()
	src, dst, repl := r.sites[r.src], r.sites[r.dst], r.replicating
	r.mu.Unlock()
	st := topology.ReplicationStatus{Source: src.Region, Destination: dst.Region, Replicating: repl}
	n, oldest, err := r.pending(ctx, src, dst)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		last := r.last
		last.Source, last.Destination, last.Replicating, last.Errors = st.Source, st.Destination, repl, r.errors
		return last, nil
	}
	st.Pending, st.OldestPending = n, oldest
	if n == 0 {
		r.lastSync = time.Now()
	}
	failed := 0
	if repl {
		if m, err := src.Client.GetBucketReplicationMetrics(ctx, r.cfg.Bucket); err == nil {
			failed = int(m.FailedCount)
		}
	}
	st.Errors = r.errors + failed
	st.LastSync = r.lastSync
	r.last = st
	return st, nil
}

// SyncNow implements topology.Replication. MinIO replicates on its own;
// SyncNow waits, up to the sync timeout, until the destination has every
// object of the source, and reports what is still pending otherwise.
func (r *Replication) SyncNow(ctx context.Context) error {
	r.mu.Lock()
	src, dst, repl := r.sites[r.src], r.sites[r.dst], r.replicating
	r.mu.Unlock()
	if !repl {
		return nil
	}
	return r.waitDrained(ctx, src, dst)
}

func (r *Replication) waitDrained(ctx context.Context, src, dst *Site) error {
	deadline := time.Now().Add(r.cfg.SyncTimeout)
	for {
		n, _, err := r.pending(ctx, src, dst)
		if err == nil && n == 0 {
			r.mu.Lock()
			r.lastSync = time.Now()
			r.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("replication %s to %s: %w", src.Region, dst.Region, err)
			}
			return fmt.Errorf("replication %s to %s: %d objects still pending after %s", src.Region, dst.Region, n, r.cfg.SyncTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.cfg.PollInterval):
		}
	}
}

// Failover implements topology.Replication: replication stops, the
// destination becomes the source and the application may write it. The old
// source's rule is removed when it still answers; when it is down nothing
// replicates from it, and Resync removes the rule once it is back.
func (r *Replication) Failover(ctx context.Context) error {
	r.mu.Lock()
	old, next := r.sites[r.src], r.sites[r.dst]
	r.replicating = false
	r.src, r.dst = next.Region, old.Region
	r.mu.Unlock()
	if err := r.setWritable(ctx, next, true); err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	rmCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = r.run(rmCtx, old, "mc replicate rm", r.RemoveRulesCommand()) // best effort: the region may be gone
	return nil
}

// Resync implements topology.Replication: replicate from the current
// source to the other region, including every object the other lacks (a
// resync of existing objects). The other region's stale rule, left from
// when it was the source, is removed first so nothing flows backwards, and
// the application may only read there.
func (r *Replication) Resync(ctx context.Context) error {
	r.mu.Lock()
	src, dst := r.sites[r.src], r.sites[r.dst]
	r.mu.Unlock()
	if err := ensureVersionedBucket(ctx, dst.Client, r.cfg.Bucket); err != nil {
		return fmt.Errorf("resync: bucket in region %s: %w", dst.Region, err)
	}
	for _, s := range []*Site{src, dst} {
		if err := r.run(ctx, s, "mc alias set", r.AliasCommand(s)); err != nil {
			return fmt.Errorf("resync: %w", err)
		}
	}
	_, _ = dst.Exec.Exec(ctx, r.RemoveRulesCommand()) // none there is fine
	if err := r.setWritable(ctx, dst, false); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	_, _ = src.Exec.Exec(ctx, r.RemoveRulesCommand())
	if err := r.startRule(ctx, src, true); err != nil {
		return fmt.Errorf("resync region %s from %s: %w", dst.Region, src.Region, err)
	}
	r.mu.Lock()
	r.replicating = true
	r.mu.Unlock()
	return nil
}

// Switchover implements topology.Replication: the source becomes read-only
// to the application, the destination receives everything (waiting until
// nothing is pending), then the roles swap and replication runs from the
// new source.
func (r *Replication) Switchover(ctx context.Context) error {
	r.mu.Lock()
	src, dst, repl := r.sites[r.src], r.sites[r.dst], r.replicating
	r.mu.Unlock()
	if !repl {
		return fmt.Errorf("switchover: replication from region %s is not running; resync first", src.Region)
	}
	if err := r.setWritable(ctx, src, false); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	if err := r.waitDrained(ctx, src, dst); err != nil {
		// Stay as we were: the source takes writes again.
		return errors.Join(fmt.Errorf("switchover: final sync: %w", err), r.setWritable(ctx, src, true))
	}
	if err := r.run(ctx, src, "mc replicate rm", r.RemoveRulesCommand()); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	if err := r.setWritable(ctx, dst, true); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	if err := r.startRule(ctx, dst, false); err != nil {
		return fmt.Errorf("switchover: replicate from region %s: %w", dst.Region, err)
	}
	r.mu.Lock()
	r.src, r.dst = dst.Region, src.Region
	r.mu.Unlock()
	return nil
}
