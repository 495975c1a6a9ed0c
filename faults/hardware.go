package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
)

func init() {
	pickInstance := func(rng *rand.Rand, spec topology.Spec) Params {
		return Params{"region": pickRegion(rng), "instance": strconv.Itoa(rng.IntN(max(spec.InstancesPerRegion, 1)))}
	}
	instanceParams := []Param{{"region", "a", "region of the instance"}, {"instance", "0", "instance index in the region"}}
	byIndex := func(p Params) (instanceSel, error) {
		i, err := p.Int("instance", 0, 999)
		if err != nil {
			return instanceSel{}, err
		}
		return instanceSel{pick: func(in topology.Instance) bool { return in.Index() == i }, target: fmt.Sprintf("instance %d", i)}, nil
	}
	Register(Definition{Name: "instance-crash", Class: Hardware, Targets: "region, instance",
		Help:   "crash one AOS instance (SIGKILL or container kill); restarted on recovery",
		Params: instanceParams,
		Build:  instanceFault("instance-crash", false, byIndex),
		Pick:   pickInstance})
	Register(Definition{Name: "instance-freeze", Class: Hardware, Targets: "region, instance",
		Help:   "freeze one AOS instance (SIGSTOP or container pause): the process stays, its connections hang; thawed on recovery",
		Params: instanceParams,
		Build:  instanceFault("instance-freeze", true, byIndex),
		Pick:   pickInstance})
	Register(Definition{Name: "fault-domain-loss", Class: Hardware, Targets: "region, fault domain",
		Help:   "crash every AOS instance of one fault domain (a rack's power); restarted on recovery",
		Params: []Param{{"region", "a", "region"}, {"domain", "0", "fault domain (0-4)"}},
		Build: instanceFault("fault-domain-loss", false, func(p Params) (instanceSel, error) {
			d, err := p.Int("domain", 0, 4)
			if err != nil {
				return instanceSel{}, err
			}
			return instanceSel{pick: func(in topology.Instance) bool { return in.FaultDomain() == d }, target: fmt.Sprintf("fault domain %d", d)}, nil
		}),
		Pick: func(rng *rand.Rand, spec topology.Spec) Params {
			return Params{"region": pickRegion(rng), "domain": strconv.Itoa(rng.IntN(max(min(spec.FaultDomains, 5), 1)))}
		}})
	Register(Definition{Name: "fault-domains-loss", Class: Hardware, Targets: "region, fault domains",
		Help:   "crash every AOS instance of several fault domains at once (two racks); restarted on recovery",
		Params: []Param{{"region", "a", "region"}, {"domains", "0,1", "fault domains, comma-separated (2 to 4 of 0-4)"}},
		Build: instanceFault("fault-domains-loss", false, func(p Params) (instanceSel, error) {
			ds, err := p.IntList("domains", 0, 4, 2, 4)
			if err != nil {
				return instanceSel{}, err
			}
			set := map[int]bool{}
			for _, d := range ds {
				set[d] = true
			}
			return instanceSel{pick: func(in topology.Instance) bool { return set[in.FaultDomain()] }, target: "fault domains " + p["domains"], all: true}, nil
		}),
		Pick: func(rng *rand.Rand, spec topology.Spec) Params {
			n := max(min(spec.FaultDomains, 5), 2)
			a := rng.IntN(n)
			b := (a + 1 + rng.IntN(n-1)) % n
			return Params{"region": pickRegion(rng), "domains": fmt.Sprintf("%d,%d", a, b)}
		}})
	Register(Definition{Name: "sql-primary-crash", Class: Hardware, SingleInstance: true, Targets: "region (must hold the SQL primary)",
		Help:   "crash the SQL primary (SIGKILL of every server process); restarted in place on recovery, no region failover",
		Params: []Param{{"region", "a", "region of the primary"}},
		Build: regionFault(func(r topology.RegionName) Fault {
			return &sqlCrash{name: "sql-primary-crash", region: r, role: "primary"}
		})})
	Register(Definition{Name: "sql-standby-crash", Class: Hardware, Targets: "region (must hold the SQL secondary)",
		Help:   "crash the log-shipping secondary: restores stall, the primary keeps serving; restarted on recovery and catches up",
		Params: []Param{{"region", "b", "region of the secondary"}},
		Build: regionFault(func(r topology.RegionName) Fault {
			return &sqlCrash{name: "sql-standby-crash", region: r, role: "secondary"}
		})})
	Register(Definition{Name: "log-share-full", Class: Hardware, Targets: "region (the SQL primary's log backup share)",
		Needs:  []topology.Capability{topology.CapLogShareFill},
		Help:   "the primary's log backup share is full: log backups fail and the secondary's lag grows; space is freed on recovery",
		Params: []Param{{"region", "a", "region of the primary whose share fills"}},
		Build:  regionFault(func(r topology.RegionName) Fault { return &logShareFull{region: r} })})
	Register(Definition{Name: "blob-crash", Class: Hardware, SingleInstance: true, Targets: "region",
		Help:   "crash a region's blob store: invoice documents cannot be written there, replication stalls; restarted with its data on recovery",
		Params: []Param{{"region", "a", "region"}},
		Build:  regionFault(func(r topology.RegionName) Fault { return &blobCrash{region: r} }),
		Pick:   func(rng *rand.Rand, _ topology.Spec) Params { return Params{"region": pickRegion(rng)} }})
}

// regionFault builds a fault whose only parameter is its region.
func regionFault(mk func(topology.RegionName) Fault) func(Params) (Fault, error) {
	return func(p Params) (Fault, error) {
		r, err := p.Region("region")
		if err != nil {
			return nil, err
		}
		return mk(r), nil
	}
}

// instanceSel is which instances of a region a fault takes, read from its
// parameters.
type instanceSel struct {
	pick   func(topology.Instance) bool
	target string
	all    bool
}

// instanceFault builds a fault that crashes (or freezes) the instances of
// its region that sel picks.
func instanceFault(name string, freeze bool, sel func(Params) (instanceSel, error)) func(Params) (Fault, error) {
	return func(p Params) (Fault, error) {
		r, err := p.Region("region")
		if err != nil {
			return nil, err
		}
		s, err := sel(p)
		if err != nil {
			return nil, err
		}
		return &instances{name: name, region: r, freeze: freeze, pick: s.pick, target: s.target, all: s.all}, nil
	}
}

// instances crashes (or freezes) the instances of a region that pick selects.
type instances struct {
	name   string
	region topology.RegionName
	pick   func(topology.Instance) bool
	target string
	freeze bool
	all    bool // every instance of the target must exist (several domains)
	hit    []topology.Instance
	seen   []string
}

func (f *instances) Name() string     { return f.name }
func (f *instances) Claims() []string { return []string{string(f.region) + "/aos"} }

func (f *instances) targets(env topology.Environment) []topology.Instance {
	var out []topology.Instance
	reg := env.Region(f.region)
	if reg == nil {
		return nil
	}
	for _, in := range reg.Instances() {
		if f.pick(in) {
			out = append(out, in)
		}
	}
	return out
}

// CheckTarget fails when no instance matches.
func (f *instances) CheckTarget(env topology.Environment) error {
	if err := checkRegion(env, f.name, f.region); err != nil {
		return err
	}
	if len(f.targets(env)) == 0 {
		return &Error{fmt.Sprintf("fault %s: region %s has no %s (%d instances over %d fault domains)", f.name, f.region, f.target,
			len(env.Region(f.region).Instances()), env.Spec().FaultDomains)}
	}
	return nil
}

func (f *instances) Inject(ctx context.Context, env topology.Environment) error {
	f.hit = f.targets(env)
	var errs []error
	for _, in := range f.hit {
		if f.freeze {
			errs = append(errs, in.Freeze(ctx))
		} else {
			errs = append(errs, in.Kill(ctx))
		}
	}
	return errors.Join(errs...)
}

func (f *instances) Recover(ctx context.Context, env topology.Environment) error {
	var errs []error
	for _, in := range f.hit {
		if f.freeze {
			errs = append(errs, in.Thaw(ctx))
		} else {
			errs = append(errs, in.Restart(ctx))
		}
	}
	return errors.Join(errs...)
}

// Pider is an instance that tells its operating-system process id, so a
// freeze can be observed in the process table.
type Pider interface{ Pid() int }

// procState reads the state letter of a process from /proc (R, S, T, Z...).
func procState(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return "", fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	return s[i+2 : i+3], nil
}

// Verify checks that every targeted process is gone (crash) or stopped
// (freeze), from the process table where the provider tells the pid.
func (f *instances) Verify(ctx context.Context, env topology.Environment) error {
	if len(f.hit) == 0 {
		return fmt.Errorf("%s hit no instance", f.name)
	}
	// A signal is delivered asynchronously: give the kernel a moment.
	var err error
	for i := 0; i < 40; i++ {
		if err = f.observe(); err == nil {
			return nil
		}
		if err := sleepCtx(ctx, 25*time.Millisecond); err != nil {
			return err
		}
	}
	return err
}

func (f *instances) observe() error {
	f.seen = nil
	for _, in := range f.hit {
		if pp, ok := in.(Pider); ok && pp.Pid() > 0 {
			st, err := procState(pp.Pid())
			switch {
			case f.freeze && err != nil:
				return fmt.Errorf("%s (pid %d) is gone, not frozen: %v", in.ID(), pp.Pid(), err)
			case f.freeze && st != "T":
				return fmt.Errorf("%s (pid %d) is in state %s, not stopped, after %s", in.ID(), pp.Pid(), st, f.name)
			case !f.freeze && err == nil && st != "Z" && st != "X":
				return fmt.Errorf("%s (pid %d) still exists in state %s after %s", in.ID(), pp.Pid(), st, f.name)
			}
			f.seen = append(f.seen, fmt.Sprintf("%s pid %d state %s", in.ID(), pp.Pid(), map[bool]string{true: st, false: "gone"}[err == nil]))
			continue
		}
		if in.Alive() {
			return fmt.Errorf("%s still alive after %s", in.ID(), f.name)
		}
		f.seen = append(f.seen, in.ID()+" not alive")
	}
	return nil
}

func (f *instances) Evidence() map[string]any {
	return map[string]any{"instances": f.seen}
}

// sqlCrash crashes a region's SQL server and restarts it in place.
type sqlCrash struct {
	name   string
	region topology.RegionName
	role   string // primary or secondary: what CheckTarget expects the region to hold ("" = either)
	seen   probeOutcome
}

func (f *sqlCrash) Name() string { return f.name }
func (f *sqlCrash) Claims() []string {
	c := []string{string(f.region) + "/sql"}
	if f.role == "primary" {
		c = append(c, string(f.region)+"/health")
	}
	return c
}

func (f *sqlCrash) CheckTarget(env topology.Environment) error {
	if err := checkRegion(env, f.name, f.region); err != nil {
		return err
	}
	if f.role == "" {
		return nil // the roles will have changed by the time it strikes
	}
	st, err := env.SQL().Status(context.Background())
	if err != nil {
		return &Error{fmt.Sprintf("fault %s: read log shipping status: %v", f.name, err)}
	}
	holder := st.Primary
	if f.role == "secondary" {
		holder = st.Secondary
	}
	if holder != f.region {
		return &Error{fmt.Sprintf("fault %s: region %s does not hold the SQL %s (region %s does)", f.name, f.region, f.role, holder)}
	}
	return nil
}

func (f *sqlCrash) Inject(ctx context.Context, env topology.Environment) error {
	return env.Region(f.region).StopSQL(ctx)
}

func (f *sqlCrash) Recover(ctx context.Context, env topology.Environment) error {
	return env.Region(f.region).StartSQL(ctx)
}

// Verify connects through the region's aos-sql link, as the AOS would: the
// proxy finds no server behind it and drops the connection.
func (f *sqlCrash) Verify(ctx context.Context, env topology.Environment) error {
	return verifyGone(ctx, env, topology.LinkName(topology.LinkAOSSQL, f.region), "SQL server of region "+string(f.region), &f.seen)
}

func (f *sqlCrash) Evidence() map[string]any { return map[string]any{"probe": f.seen.String()} }

// verifyGone probes the server behind a link and wants no answer.
func verifyGone(ctx context.Context, env topology.Environment, link, what string, seen *probeOutcome) error {
	var o probeOutcome
	var err error
	// The proxy may still hold a connection to the dying server for a moment.
	for i := 0; i < 10; i++ {
		if o, err = probeLink(ctx, env, link, 0, time.Second); err != nil {
			return err
		}
		if o.Result != "ok" {
			break
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	*seen = o
	if o.Result == "ok" {
		return fmt.Errorf("the %s still answers through link %s: %s", what, link, o)
	}
	return nil
}

// LogShareFiller is a SQL engine whose log backup share can be made to
// refuse new log backups (as a full disk would) and freed again.
type LogShareFiller interface {
	SetLogShareFull(r topology.RegionName, full bool) error
}

// logShareFull fills the log backup share of a region's primary.
type logShareFull struct {
	region  topology.RegionName
	before  topology.ShippingStatus
	err     string
	errorsN int
}

func (f *logShareFull) Name() string     { return "log-share-full" }
func (f *logShareFull) Claims() []string { return []string{string(f.region) + "/sql"} }

func (f *logShareFull) CheckTarget(env topology.Environment) error {
	if err := checkRegion(env, f.Name(), f.region); err != nil {
		return err
	}
	if _, ok := env.SQL().(LogShareFiller); !ok {
		return &Error{fmt.Sprintf("fault log-share-full: the %s engine of this provider cannot fill its log share", env.SQL().Engine())}
	}
	st, err := env.SQL().Status(context.Background())
	if err != nil {
		return &Error{fmt.Sprintf("fault log-share-full: read log shipping status: %v", err)}
	}
	if st.Primary != f.region {
		return &Error{fmt.Sprintf("fault log-share-full: region %s does not hold the SQL primary (region %s does), so it takes no log backups", f.region, st.Primary)}
	}
	return nil
}

func (f *logShareFull) Inject(ctx context.Context, env topology.Environment) error {
	lf, ok := env.SQL().(LogShareFiller)
	if !ok {
		return fmt.Errorf("the %s engine cannot fill its log share", env.SQL().Engine())
	}
	f.before, _ = env.SQL().Status(ctx)
	return lf.SetLogShareFull(f.region, true)
}

func (f *logShareFull) Recover(ctx context.Context, env topology.Environment) error {
	lf, ok := env.SQL().(LogShareFiller)
	if !ok {
		return fmt.Errorf("the %s engine cannot fill its log share", env.SQL().Engine())
	}
	return lf.SetLogShareFull(f.region, false)
}

// Verify takes log backups until one fails (the workload keeps writing, so
// each has something to back up) and checks that the failure counter grew.
func (f *logShareFull) Verify(ctx context.Context, env topology.Environment) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := env.SQL().BackupLog(ctx)
		if err != nil {
			f.err = err.Error()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("log backups in region %s kept succeeding for 10s after its share was filled", f.region)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	st, err := env.SQL().Status(ctx)
	if err != nil {
		return fmt.Errorf("read log shipping status: %w", err)
	}
	f.errorsN = st.BackupErrors - f.before.BackupErrors
	if f.errorsN <= 0 {
		return fmt.Errorf("a log backup failed (%s) but the failed-backup count did not grow (%d)", f.err, st.BackupErrors)
	}
	return nil
}

func (f *logShareFull) Evidence() map[string]any {
	return map[string]any{"backup_error": f.err, "failed_backups": f.errorsN}
}

// blobCrash crashes a region's blob store and restarts it with its data.
type blobCrash struct {
	region topology.RegionName
	seen   probeOutcome
}

func (f *blobCrash) Name() string     { return "blob-crash" }
func (f *blobCrash) Claims() []string { return []string{string(f.region) + "/blob"} }
func (f *blobCrash) CheckTarget(env topology.Environment) error {
	return checkRegion(env, f.Name(), f.region)
}
func (f *blobCrash) Inject(ctx context.Context, env topology.Environment) error {
	return env.Region(f.region).StopBlob(ctx)
}
func (f *blobCrash) Recover(ctx context.Context, env topology.Environment) error {
	return env.Region(f.region).StartBlob(ctx)
}

// Verify connects through the region's aos-blob link, as the AOS would.
func (f *blobCrash) Verify(ctx context.Context, env topology.Environment) error {
	return verifyGone(ctx, env, topology.LinkName(topology.LinkAOSBlob, f.region), "blob store of region "+string(f.region), &f.seen)
}
func (f *blobCrash) Evidence() map[string]any { return map[string]any{"probe": f.seen.String()} }
