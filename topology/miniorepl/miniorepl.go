// Package miniorepl is blob replication done by MinIO itself, behind
// topology.Replication: a versioned bucket in each region and a MinIO
// bucket-replication rule from the source to the destination, configured
// with the mc binary that the MinIO image ships, run inside the source's
// container (MinIO server, mc and madmin-go are AGPL: this package never
// imports them, it only runs the separate program).
//
// The rule names the destination by an address across the WAN link, so
// replicated bytes cross the faultable path, and signs in there as a
// replication user that is enabled only on the current destination: a
// failover disables it on the new source, so the old source, once it
// returns, can write nothing into it (a lost region is lost whole).
//
// Status is what MinIO itself says: each source object's replication
// status (listed with its metadata: PENDING, FAILED, COMPLETED, REPLICA),
// so the pending set, its oldest member and the failures are MinIO's, not
// the harness's belief. Describe reads `mc replicate status` for logs.
//
// Every secret of the configuration is redacted from errors and from what
// Describe returns.
package miniorepl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/bcdr-harness/bcdr/topology"
)

// Image is the official MinIO image the containers provider runs on hosts
// with registry access; LocalImage is the one scripts/build-images.sh builds.
const (
	Image      = "minio/minio:latest"
	LocalImage = "bcdr/minio:local"
)

// mcConfigDir keeps mc's aliases apart from anything in the image.
const mcConfigDir = "/tmp/bcdr-mc"

// selfAlias is the mc alias of the MinIO server a command runs next to.
const selfAlias = "self"

// MinIO's per-object replication states (x-amz-replication-status).
const (
	statusCompleted = "COMPLETED"
	statusReplica   = "REPLICA"
	statusFailed    = "FAILED"
)

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
	// Diagnose, when set, says what state the server is in (its readiness,
	// its last log lines): added to the error of a command that did not
	// return in time.
	Diagnose func(context.Context) string
}

// Config configures replication between two sites.
type Config struct {
	Bucket string
	// AccessKey and Secret are the root credentials mc uses on its own server.
	AccessKey, Secret string
	// ReplAccessKey and ReplSecret are the user a replication rule signs in
	// as on its target. The user exists on both sites and is enabled only
	// on the current destination.
	ReplAccessKey, ReplSecret string
	// AppAccessKey and AppSecret, when set, are the application's user
	// (the AOS stubs' credentials): readwrite on the source bucket's server,
	// readonly on the destination's, switched with the roles. This is how
	// the destination stays read-only to everyone but the replicator.
	AppAccessKey, AppSecret string
	Source, Dest            Site
	// SyncTimeout bounds how long SyncNow and Switchover wait for the
	// pending set to drain (default 30 s wall).
	SyncTimeout time.Duration
	// PollInterval is how often the pending set is read while waiting
	// (default 200 ms).
	PollInterval time.Duration
	// CatchUpTimeout bounds how long Resync waits for MinIO to replicate
	// the objects that existed when it started (default 20 times
	// SyncTimeout).
	CatchUpTimeout time.Duration
	// ExecTimeout bounds one mc command (default 30 s wall): a command
	// that does not return is an error the caller can retry, not a switch
	// that hangs until the run's deadline.
	ExecTimeout time.Duration
	// StatusTimeout bounds one listing of the source for Status (default
	// 5 s wall); past it the status is stale.
	StatusTimeout time.Duration
}

// timedExec bounds every command of an Exec.
type timedExec struct {
	inner    Exec
	limit    time.Duration
	diagnose func(context.Context) string
}

// Exec returns when the command does or when the limit passes, whichever
// comes first (an exec that ignores its context is left to return on its
// own).
func (t timedExec) Exec(ctx context.Context, cmd []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.limit)
	defer cancel()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := t.inner.Exec(ctx, cmd)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err := fmt.Errorf("%s did not return within %s", strings.Join(cmd[:min(len(cmd), 6)], " "), t.limit)
			if t.diagnose != nil {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				err = fmt.Errorf("%w (%s)", err, t.diagnose(dctx))
			}
			return "", err
		}
		return "", ctx.Err()
	}
}

// Replication is MinIO bucket replication between two regions. It
// implements topology.Replication.
type Replication struct {
	cfg   Config
	sites map[topology.RegionName]*Site

	mu          sync.Mutex
	src, dst    topology.RegionName
	replicating bool
	readErrors  int
	lastFailed  int
	lastSync    time.Time
	last        topology.ReplicationStatus
}

var _ topology.Replication = (*Replication)(nil)

// New checks the configuration; Setup creates the buckets and the rule.
func New(cfg Config) (*Replication, error) {
	if cfg.Bucket == "" || cfg.AccessKey == "" || cfg.Secret == "" || cfg.ReplAccessKey == "" || cfg.ReplSecret == "" {
		return nil, errors.New("minio replication: bucket, root and replication credentials are required")
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
	if cfg.CatchUpTimeout <= 0 {
		cfg.CatchUpTimeout = 20 * cfg.SyncTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.ExecTimeout <= 0 {
		cfg.ExecTimeout = 30 * time.Second
	}
	if cfg.StatusTimeout <= 0 {
		cfg.StatusTimeout = 5 * time.Second
	}
	src, dst := cfg.Source, cfg.Dest
	src.Exec = timedExec{src.Exec, cfg.ExecTimeout, src.Diagnose}
	dst.Exec = timedExec{dst.Exec, cfg.ExecTimeout, dst.Diagnose}
	return &Replication{
		cfg:   cfg,
		sites: map[topology.RegionName]*Site{src.Region: &src, dst.Region: &dst},
		src:   src.Region,
		dst:   dst.Region,
	}, nil
}

// Redact replaces every secret of the configuration in s (and the
// password of any URL's user info) with "REDACTED".
func (r *Replication) Redact(s string) string {
	for _, secret := range []string{r.cfg.Secret, r.cfg.ReplSecret, r.cfg.AppSecret} {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "REDACTED")
			s = strings.ReplaceAll(s, url.QueryEscape(secret), "REDACTED")
		}
	}
	return s
}

func (r *Replication) mc(args ...string) []string {
	return append([]string{"mc", "--config-dir", mcConfigDir, "--quiet"}, args...)
}

// AliasCommand is the mc command that names a site's own server.
func (r *Replication) AliasCommand(s *Site) []string {
	return r.mc("alias", "set", selfAlias, s.LocalURL, r.cfg.AccessKey, r.cfg.Secret)
}

// AddRuleCommand is the mc command that replicates from's bucket to the
// other site's bucket, addressed across the WAN, signed in as the
// replication user.
func (r *Replication) AddRuleCommand(from *Site) []string {
	remote := url.URL{
		Scheme: "http",
		User:   url.UserPassword(r.cfg.ReplAccessKey, r.cfg.ReplSecret),
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

// StatusCommand is the mc command that prints MinIO's replication status
// of a site's bucket as JSON.
func (r *Replication) StatusCommand() []string {
	return r.mc("replicate", "status", selfAlias+"/"+r.cfg.Bucket, "--json")
}

// UserAddCommand is the mc command that creates a user.
func (r *Replication) UserAddCommand(key, secret string) []string {
	return r.mc("admin", "user", "add", selfAlias, key, secret)
}

// UserSwitchCommand enables or disables the replication user on a site.
func (r *Replication) UserSwitchCommand(enable bool) []string {
	verb := "disable"
	if enable {
		verb = "enable"
	}
	return r.mc("admin", "user", verb, selfAlias, r.cfg.ReplAccessKey)
}

// PolicyCommand attaches or detaches a built-in policy (readwrite,
// readonly) for a user.
func (r *Replication) PolicyCommand(verb, policy, user string) []string {
	return r.mc("admin", "policy", verb, selfAlias, policy, "--user", user)
}

// run executes cmd on s; the error says what failed, with the output, and
// carries no secret.
func (r *Replication) run(ctx context.Context, s *Site, what string, cmd []string) error {
	out, err := s.Exec.Exec(ctx, cmd)
	if err != nil {
		return errors.New(r.Redact(fmt.Sprintf("%s in region %s: %v: %s", what, s.Region, err, strings.TrimSpace(out))))
	}
	return nil
}

// AddUser creates a user with a built-in policy on every site (e.g. a
// reader for snapshots); the error carries no secret, this user's included.
func (r *Replication) AddUser(ctx context.Context, key, secret, policy string) error {
	for _, region := range []topology.RegionName{r.src, r.dst} {
		s := r.sites[region]
		for _, cmd := range [][]string{r.UserAddCommand(key, secret), r.PolicyCommand("attach", policy, key)} {
			if out, err := s.Exec.Exec(ctx, cmd); err != nil {
				msg := r.Redact(fmt.Sprintf("mc admin user %s in region %s: %v: %s", key, s.Region, err, strings.TrimSpace(out)))
				return errors.New(strings.ReplaceAll(msg, secret, "REDACTED"))
			}
		}
	}
	return nil
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
	_, _ = s.Exec.Exec(ctx, r.PolicyCommand("detach", revoke, r.cfg.AppAccessKey))
	out, err := s.Exec.Exec(ctx, r.PolicyCommand("attach", grant, r.cfg.AppAccessKey))
	if err != nil && !strings.Contains(strings.ToLower(out), "already") {
		return errors.New(r.Redact(fmt.Sprintf("mc admin policy attach %s in region %s: %v: %s", grant, s.Region, err, strings.TrimSpace(out))))
	}
	return nil
}

// acceptReplication enables (on the destination) or disables (on the
// source, and on a site the other may no longer write) the replication
// user: the fence that keeps an old source out.
func (r *Replication) acceptReplication(ctx context.Context, s *Site, accept bool) error {
	what := "mc admin user disable (fence replication into it)"
	if accept {
		what = "mc admin user enable (accept replication)"
	}
	return r.run(ctx, s, what, r.UserSwitchCommand(accept))
}

// Setup creates a versioned bucket in both regions, the application user
// (read-write on the source, read-only on the destination), the
// replication user (accepted only on the destination) and the replication
// rule from the source to the destination.
func (r *Replication) Setup(ctx context.Context) error {
	src, dst := r.sites[r.src], r.sites[r.dst]
	for _, s := range []*Site{src, dst} {
		if err := ensureVersionedBucket(ctx, s.Client, r.cfg.Bucket); err != nil {
			return fmt.Errorf("bucket %s in region %s: %w", r.cfg.Bucket, s.Region, err)
		}
		if err := r.run(ctx, s, "mc alias set", r.AliasCommand(s)); err != nil {
			return err
		}
		if err := r.run(ctx, s, "mc admin user add (replication)", r.UserAddCommand(r.cfg.ReplAccessKey, r.cfg.ReplSecret)); err != nil {
			return err
		}
		if err := r.run(ctx, s, "mc admin policy attach (replication)", r.PolicyCommand("attach", "readwrite", r.cfg.ReplAccessKey)); err != nil {
			return err
		}
		if err := r.acceptReplication(ctx, s, s == dst); err != nil {
			return err
		}
		if r.cfg.AppAccessKey != "" {
			if err := r.run(ctx, s, "mc admin user add (application)", r.UserAddCommand(r.cfg.AppAccessKey, r.cfg.AppSecret)); err != nil {
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

// RemoveRule removes every replication rule of the current source: from
// then on MinIO replicates nothing, and says so in each new object's
// status. It exists for the control that shows cross-store catching a
// replication that silently stopped.
func (r *Replication) RemoveRule(ctx context.Context) error {
	r.mu.Lock()
	src := r.sites[r.src]
	r.mu.Unlock()
	return r.run(ctx, src, "mc replicate rm", r.RemoveRulesCommand())
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

// objectStatus is MinIO's replication status of a listed object ("" when
// MinIO has none: no rule applied to it).
func objectStatus(o minio.ObjectInfo) string {
	for k, v := range o.UserMetadata {
		if strings.EqualFold(k, "X-Amz-Replication-Status") {
			return strings.ToUpper(v)
		}
	}
	return o.ReplicationStatus
}

// States counts a site's objects by what MinIO says of their replication.
type States struct {
	// Pending are objects MinIO has not replicated: PENDING, FAILED, or no
	// status at all (written while no rule applied).
	Pending int
	// Failed are the pending objects whose last attempt failed.
	Failed int
	// OldestPending is the oldest pending object's modification time.
	OldestPending time.Time
	// Replicated are COMPLETED objects; Replicas arrived from the other site.
	Replicated, Replicas int
}

// ObjectStates lists the site's bucket with each object's metadata and
// counts MinIO's per-object replication states.
func (r *Replication) ObjectStates(ctx context.Context, region topology.RegionName) (States, error) {
	s := r.sites[region]
	var st States
	if s == nil {
		return st, fmt.Errorf("no MinIO site in region %q", region)
	}
	for o := range s.Client.ListObjects(ctx, r.cfg.Bucket, minio.ListObjectsOptions{Recursive: true, WithMetadata: true}) {
		if o.Err != nil {
			return st, fmt.Errorf("list bucket with replication status in region %s: %w", s.Region, o.Err)
		}
		switch objectStatus(o) {
		case statusCompleted:
			st.Replicated++
			continue
		case statusReplica:
			st.Replicas++
			continue
		case statusFailed:
			st.Failed++
		}
		st.Pending++
		if st.OldestPending.IsZero() || o.LastModified.Before(st.OldestPending) {
			st.OldestPending = o.LastModified
		}
	}
	return st, nil
}

// Status implements topology.Replication with MinIO's own per-object
// replication status on the source. When the source cannot be read the
// last known status is returned with the failed read counted.
func (r *Replication) Status(ctx context.Context) (topology.ReplicationStatus, error) {
	r.mu.Lock()
	src, dst, repl := r.src, r.dst, r.replicating
	r.mu.Unlock()
	st := topology.ReplicationStatus{Source: src, Destination: dst, Replicating: repl}
	lctx, cancel := context.WithTimeout(ctx, r.cfg.StatusTimeout)
	defer cancel()
	os, err := r.ObjectStates(lctx, src)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.readErrors++
		last := r.last
		last.Source, last.Destination, last.Replicating, last.Errors = src, dst, repl, r.readErrors+r.lastFailed
		last.Stale = true
		return last, nil
	}
	r.lastFailed = os.Failed
	st.Pending, st.OldestPending = os.Pending, os.OldestPending
	if os.Pending == 0 {
		r.lastSync = time.Now()
	}
	st.Errors = r.readErrors + os.Failed
	st.LastSync = r.lastSync
	r.last = st
	return st, nil
}

// mcStatus is the part of `mc replicate status --json` that Describe reads
// (the output also holds the targets' credentials: it is never logged).
type mcStatus struct {
	Status string `json:"status"`
	Error  struct {
		Message string `json:"message"`
		Cause   struct {
			Message string `json:"message"`
		} `json:"cause"`
	} `json:"error"`
	Stats struct {
		Current struct {
			ReplicatedCount int64 `json:"replicationCount"`
			ReplicaCount    int64 `json:"replicaCount"`
			Failed          struct {
				LastMinute struct {
					Count float64 `json:"count"`
				} `json:"lastMinute"`
				Totals struct {
					Count float64 `json:"count"`
				} `json:"totals"`
			} `json:"failed"`
			Queued struct {
				Curr struct {
					Count float64 `json:"count"`
				} `json:"curr"`
			} `json:"queued"`
		} `json:"currStats"`
	} `json:"replicationstats"`
	Targets []struct {
		Endpoint string `json:"endpoint"`
		Online   bool   `json:"isOnline"`
		Latency  struct {
			Curr time.Duration `json:"curr"`
		} `json:"latency"`
	} `json:"remoteTargets"`
}

// Describe runs `mc replicate status` on the current source and returns a
// one-line summary of what MinIO reports (replicated, queued, failed, each
// target's link state and latency) with every secret left out.
func (r *Replication) Describe(ctx context.Context) (string, error) {
	r.mu.Lock()
	src := r.sites[r.src]
	r.mu.Unlock()
	out, err := src.Exec.Exec(ctx, r.StatusCommand())
	var m mcStatus
	if jerr := json.Unmarshal([]byte(strings.TrimSpace(out)), &m); jerr != nil {
		if err != nil {
			return "", errors.New(r.Redact(fmt.Sprintf("mc replicate status in region %s: %v", src.Region, err)))
		}
		return "", fmt.Errorf("mc replicate status in region %s: unreadable output: %v", src.Region, jerr)
	}
	if m.Status != "success" {
		msg := m.Error.Message
		if c := m.Error.Cause.Message; c != "" {
			msg += ": " + c
		}
		return "", errors.New(r.Redact(fmt.Sprintf("mc replicate status in region %s: %s", src.Region, msg)))
	}
	c := m.Stats.Current
	var b strings.Builder
	fmt.Fprintf(&b, "mc replicate status in region %s: replicated %d, replicas %d, queued %.0f, failed %.0f (last minute %.0f)",
		src.Region, c.ReplicatedCount, c.ReplicaCount, c.Queued.Curr.Count, c.Failed.Totals.Count, c.Failed.LastMinute.Count)
	for _, t := range m.Targets {
		state := "offline"
		if t.Online {
			state = "online"
		}
		fmt.Fprintf(&b, "; target %s %s, latency %s", t.Endpoint, state, t.Latency.Curr)
	}
	return r.Redact(b.String()), nil
}

// SyncNow implements topology.Replication. MinIO replicates on its own;
// SyncNow waits, up to the sync timeout, until MinIO reports every object
// of the source replicated, and reports what is still pending otherwise.
func (r *Replication) SyncNow(ctx context.Context) error {
	r.mu.Lock()
	src, repl := r.src, r.replicating
	r.mu.Unlock()
	if !repl {
		return nil
	}
	return r.waitDrained(ctx, src)
}

// catchUpLag is how old the oldest pending object may be when a resync
// counts as caught up: MinIO replicates new writes as they come.
const catchUpLag = time.Second

func (r *Replication) waitDrained(ctx context.Context, src topology.RegionName) error {
	return r.waitReplicated(ctx, src, time.Time{}, r.cfg.SyncTimeout)
}

// waitReplicated waits, up to timeout, until MinIO reports replicated every
// object of src written before `before` and keeps up with the rest (its
// oldest pending object is under catchUpLag old), or every object when
// before is zero.
func (r *Replication) waitReplicated(ctx context.Context, src topology.RegionName, before time.Time, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := r.ObjectStates(ctx, src)
		if err == nil && (st.Pending == 0 || (!before.IsZero() && !st.OldestPending.Before(before) && time.Since(st.OldestPending) < catchUpLag)) {
			if st.Pending == 0 {
				r.mu.Lock()
				r.lastSync = time.Now()
				r.mu.Unlock()
			}
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("replication from region %s: %w", src, err)
			}
			return fmt.Errorf("replication from region %s: MinIO reports %d objects not replicated (%d failed) after %s",
				src, st.Pending, st.Failed, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.cfg.PollInterval):
		}
	}
}

// Failover implements topology.Replication: replication stops, the
// destination becomes the source and the application may write it. The new
// source first refuses the replication user, so nothing of the old source
// reaches it, even once the old region returns with its rule and its queue.
// The old source's rule is removed when it still answers; Resync removes it
// once the region is back.
func (r *Replication) Failover(ctx context.Context) error {
	r.mu.Lock()
	old, next := r.sites[r.src], r.sites[r.dst]
	r.mu.Unlock()
	if err := r.acceptReplication(ctx, next, false); err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	r.mu.Lock()
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
// resync of existing objects), and return once MinIO has replicated every
// object that existed when it started. The other region's stale rule, left from
// when it was the source, is removed first so nothing flows backwards, the
// application may only read there, and it accepts the replication user.
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
	if err := r.acceptReplication(ctx, dst, true); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	_, _ = src.Exec.Exec(ctx, r.RemoveRulesCommand())
	start := time.Now()
	if err := r.startRule(ctx, src, true); err != nil {
		return fmt.Errorf("resync region %s from %s: %w", dst.Region, src.Region, err)
	}
	r.mu.Lock()
	r.replicating = true
	r.mu.Unlock()
	// Caught up before the planned switch: MinIO resyncs the objects that
	// existed before the rule in the background, and a switchover that
	// starts before that backlog is gone would wait for all of it with
	// the front door drained.
	if err := r.waitReplicated(ctx, src.Region, start, r.cfg.CatchUpTimeout); err != nil {
		return fmt.Errorf("resync region %s from %s: catching up: %w", dst.Region, src.Region, err)
	}
	return nil
}

// Switchover implements topology.Replication: the source becomes read-only
// to the application, MinIO replicates everything (waiting until it
// reports nothing pending), then the roles swap: the old source accepts
// replication, the new one refuses it, and the new source's rule starts.
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
	if err := r.waitDrained(ctx, src.Region); err != nil {
		// Stay as we were: the source takes writes again.
		return errors.Join(fmt.Errorf("switchover: final sync: %w", err), r.setWritable(ctx, src, true))
	}
	if err := r.run(ctx, src, "mc replicate rm", r.RemoveRulesCommand()); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	if err := r.acceptReplication(ctx, dst, false); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	if err := r.acceptReplication(ctx, src, true); err != nil {
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
