package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
	"github.com/bcdr-harness/bcdr/topology/lb"
)

// Region is one region's containers and load balancer.
type Region struct {
	env *Env
	topology.RegionCore[*Instance, *lb.Balancer]
}

var (
	_ topology.Region           = (*Region)(nil)
	_ topology.ClientEndpointer = (*Region)(nil)
)

// Network is the name of the region's Docker network.
func (r *Region) Network() string { return r.env.nets[r.RegionName] }

// Stop is a power loss: every container of the region is killed (SQL,
// blob store, AOS instances) and its load balancer stops.
func (r *Region) Stop(ctx context.Context) error {
	r.SetUp(false)
	r.LB.Stop()
	r.env.setShareLost(r.RegionName, true) // the backup share goes with the region
	// Every container at once: a power loss does not take seconds.
	kills := []func(context.Context) error{r.StopBlob, r.StopSQL}
	for _, in := range r.AOS {
		kills = append(kills, in.c.Kill)
	}
	return parallel(ctx, 16, kills)
}

// parallel runs fs with at most n at a time and joins their errors.
func parallel(ctx context.Context, n int, fs []func(context.Context) error) error {
	errs := make([]error, len(fs))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = f(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Start brings the region's containers back, each in the role it had.
func (r *Region) Start(ctx context.Context) error {
	if err := r.StartSQL(ctx); err != nil {
		return err
	}
	r.env.setShareLost(r.RegionName, false)
	if err := r.StartBlob(ctx); err != nil {
		return err
	}
	var starts []func(context.Context) error
	for _, in := range r.AOS {
		starts = append(starts, in.Restart)
	}
	if err := parallel(ctx, 4, starts); err != nil {
		return fmt.Errorf("restart AOS instances of region %s: %w", r.RegionName, err)
	}
	if err := r.LB.Start(); err != nil {
		return fmt.Errorf("region %s load balancer: %w", r.RegionName, err)
	}
	// Up turns true once the region has settled: a runbook that waits for
	// it (to resync the region's SQL server) must not rebuild the server
	// under instances that are still coming up.
	err := r.waitHealthy(ctx, 60*time.Second)
	r.SetUp(true)
	return err
}

func alreadyRunning(err error) bool {
	return err != nil && (containsAny(err.Error(), "already started", "is already running"))
}

func (r *Region) waitHealthy(ctx context.Context, d time.Duration) error {
	return topology.WaitHealthy(ctx, r.RegionName, r.LB, r.Instances(), d, 100*time.Millisecond, r.diagnose)
}

// diagnose says why the region's first instance is not healthy: why the
// load balancer took it out, its own answer to /health, or why it gave
// none, and the tail of its output.
func (r *Region) diagnose(ctx context.Context) string {
	if len(r.AOS) == 0 {
		return "no instances"
	}
	in := r.AOS[0]
	if why, out := r.LB.Unhealthy()[in.ID()]; out {
		return fmt.Sprintf("load balancer: %s; %s", why, r.answer(ctx, in))
	}
	return r.answer(ctx, in)
}

// answer is the instance's own answer to /health, or why it gave none.
func (r *Region) answer(ctx context.Context, in *Instance) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/health", in.port), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Sprintf("%s: %v; logs: %s", in.ID(), err, in.c.logTail(context.Background()))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return fmt.Sprintf("%s answers %s: %s", in.ID(), resp.Status, strings.TrimSpace(string(b)))
}

// StopBlob kills the region's S3 container.
func (r *Region) StopBlob(ctx context.Context) error { return r.env.s3s[r.RegionName].c.Kill(ctx) }

// StartBlob starts it again with its data.
func (r *Region) StartBlob(ctx context.Context) error {
	s := r.env.s3s[r.RegionName]
	if err := s.c.Start(ctx); err != nil && !alreadyRunning(err) {
		return err
	}
	return waitFor(ctx, 60*time.Second, s.ready)
}

// StopSQL kills the region's SQL container.
func (r *Region) StopSQL(ctx context.Context) error { return r.env.sql.ctrs[r.RegionName].Kill(ctx) }

// StartSQL starts it again; it recovers from its own data in its role.
func (r *Region) StartSQL(ctx context.Context) error {
	if err := r.env.sql.ctrs[r.RegionName].Start(ctx); err != nil && !alreadyRunning(err) {
		return err
	}
	if err := waitFor(ctx, 180*time.Second, r.env.sql.ready[r.RegionName]); err != nil {
		return fmt.Errorf("sql of region %s not ready: %w", r.RegionName, err)
	}
	return nil
}

// Instance is one AOS stub container.
type Instance struct {
	cfg  aos.Config
	c    *ctr
	port int
}

var _ topology.Instance = (*Instance)(nil)

func (in *Instance) ID() string                  { return in.cfg.ID() }
func (in *Instance) Region() topology.RegionName { return topology.RegionName(in.cfg.Region) }
func (in *Instance) FaultDomain() int            { return in.cfg.FaultDomain }
func (in *Instance) Index() int                  { return in.cfg.Index }

// Kill kills the container (SIGKILL).
func (in *Instance) Kill(ctx context.Context) error { return in.c.Kill(ctx) }

// Freeze pauses the container: its connections hang.
func (in *Instance) Freeze(ctx context.Context) error { return in.c.Pause(ctx) }

// Thaw unpauses it.
func (in *Instance) Thaw(ctx context.Context) error { return in.c.Unpause(ctx) }

// Restart starts a killed container again.
func (in *Instance) Restart(ctx context.Context) error {
	if err := in.c.Start(ctx); err != nil && !alreadyRunning(err) {
		return err
	}
	return nil
}

// Disconnect removes the instance from its region's network.
func (in *Instance) Disconnect(ctx context.Context) error {
	for n := range in.c.spec.Networks {
		if err := in.c.Disconnect(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// Reconnect attaches it again.
func (in *Instance) Reconnect(ctx context.Context) error {
	for n := range in.c.spec.Networks {
		if err := in.c.Reconnect(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// Alive tells whether the container runs and is not paused.
func (in *Instance) Alive() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	running, paused, err := in.c.State(ctx)
	return err == nil && running && !paused
}
