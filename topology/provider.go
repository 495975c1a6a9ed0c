package topology

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
)

// Provider builds an environment from a spec.
type Provider func(ctx context.Context, spec Spec, clk *clock.Clock) (Environment, error)

// Capability is something a fault may need that not every provider
// offers. A fault names what it needs (faults.Definition.Needs); a
// provider declares what it offers (ProviderDef.Capabilities); a drill
// that asks a provider for a fault it cannot do is refused before anything
// starts.
type Capability string

// Capabilities.
const (
	// CapClientPath: a region is reached by clients through a client link
	// separate from its load balancer (ClientEndpointer), so a region
	// cut off from its clients while its data plane runs can be observed
	// (region-isolation).
	CapClientPath Capability = "client-path"
	// CapLogShareFill: the SQL engine's log backup share can be made to
	// refuse new log backups, as a full disk would (log-share-full).
	CapLogShareFill Capability = "log-share-fill"
)

// CleanOptions tells a provider's clean-up (bcdr clean) what to remove,
// and where to say what it did.
type CleanOptions struct {
	// RunID limits the clean-up to one run ("" = every bcdr run's), where
	// the provider's resources carry run ids.
	RunID string
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
	// All removes also what running drills and environments use.
	All bool
	// MinAge leaves alone a work directory without an owner record that
	// is younger than this (a run may be starting there).
	MinAge time.Duration
	// Removed is told each thing removed (or, dry, to remove), as it goes.
	Removed func(what string)
	// Kept is told each thing left in place, and why.
	Kept func(what, why string)
}

// Report tells o's Removed that what was removed (or, dry, would be).
func (o CleanOptions) Report(what string) {
	if o.Removed != nil {
		o.Removed(what)
	}
}

// Keep tells o's Kept that what stays, and why.
func (o CleanOptions) Keep(what, why string) {
	if o.Kept != nil {
		o.Kept(what, why)
	}
}

// ProviderDef is a provider's one registration: what the rest of the
// harness (help text, scenario validation, bcdr clean, the conformance
// test of package topology/providers) knows of it. Not to be confused with
// Registry, the blast-radius guard's record of what one run created.
type ProviderDef struct {
	// Name is what a scenario's provider setting names.
	Name string
	// Help says in one line where the environment runs, for help text.
	Help string
	// Up builds the environment.
	Up Provider
	// Scale is the time scale when a scenario sets none (0 =
	// DefaultTimeScale): how many service seconds pass per wall second. A
	// slower environment needs a lower scale so that wall-clock timeouts
	// derived from service time keep their headroom.
	Scale float64
	// AttemptFloor is the shortest client attempt (wall time) the data
	// path needs: a round trip costs the same wall time at any scale, so
	// no scale may make a client give up on an attempt sooner.
	AttemptFloor time.Duration
	// AttemptFromLatency sizes the client attempt from the latency the
	// run's own requests show before the first fault (the workload's
	// warm-up), between the floor and half the retry budget, instead of
	// taking the floor as it is (Attempt).
	AttemptFromLatency bool
	// SQLEngines are the SQL engines it runs, the default first.
	SQLEngines []string
	// BlobEngines are the blob engines it runs, the default first
	// (BlobEngineS3 when empty).
	BlobEngines []string
	// Capabilities are what it offers of what faults may need.
	Capabilities []Capability
	// Available says why the provider cannot run on this machine (nil =
	// it can): missing binaries, no Docker, missing images.
	Available func(ctx context.Context) error
	// Light marks a provider that needs nothing but this process and
	// brings an environment up in well under a second: its conformance
	// test runs also with -short.
	Light bool
	// Sweep removes what killed runs of this provider left on this
	// machine: its processes whose run is gone, its work directories
	// whose owner is gone (nil = nothing). bcdr clean runs every
	// provider's Sweep, then their Clean.
	Sweep func(ctx context.Context, o CleanOptions) error
	// SweepHelp says what Sweep removes, as bullet lines ("  - ...") for
	// bcdr clean --help.
	SweepHelp string
	// Clean removes what killed runs of this provider left outside this
	// machine's processes and work directories (nil = nothing); bcdr
	// clean runs it unless told --NAME=false.
	Clean func(ctx context.Context, o CleanOptions) error
	// CleanHelp says in one line what Clean removes, for bcdr clean --help.
	CleanHelp string
	// Leftovers lists what runs of this provider left outside this
	// machine's processes and work directories, by kind (one of
	// LeftoverKinds), for the leak campaign (cmd/leaks); runID "" = every
	// bcdr run's (nil = it leaves nothing there).
	Leftovers func(ctx context.Context, runID string) (map[string][]string, error)
	// LeftoverKinds are the kinds Leftovers reports, in table order.
	LeftoverKinds []string
	// Describe says which engines (and versions) it runs on this machine,
	// for the validation report's environment (nil = not said).
	Describe func() []string
	// ValidateSets are knob=value settings bcdr validate applies to every
	// run on this provider, before its own --set.
	ValidateSets []string
}

// Offers tells whether the provider declares capability c.
func (d ProviderDef) Offers(c Capability) bool { return slices.Contains(d.Capabilities, c) }

// Missing lists the capabilities of needs the provider does not declare.
func (d ProviderDef) Missing(needs []Capability) []Capability {
	var out []Capability
	for _, c := range needs {
		if !d.Offers(c) {
			out = append(out, c)
		}
	}
	return out
}

// scale is the provider's time scale.
func (d ProviderDef) scale() float64 {
	if d.Scale > 0 {
		return d.Scale
	}
	return DefaultTimeScale
}

// blobEngines are the provider's blob engines, the default first.
func (d ProviderDef) blobEngines() []string {
	if len(d.BlobEngines) == 0 {
		return []string{BlobEngineS3}
	}
	return d.BlobEngines
}

var (
	providersMu sync.Mutex
	providers   = map[string]ProviderDef{}
)

// Blob engines: what keeps the two regions' buckets in sync.
const (
	// BlobEngineMinIO is MinIO's own bucket replication, configured with mc
	// (topology/miniorepl; containers provider).
	BlobEngineMinIO = "minio"
	// BlobEngineS3 is the harness's replicator (topology/blob) over any S3 server.
	BlobEngineS3 = "s3"
)

// DefaultTimeScale is the time scale of a provider that names none.
const DefaultTimeScale = 200

// RegisterProvider makes a provider available by name. Each provider
// registers itself once, from an init function in its package; package
// topology/providers imports every provider.
func RegisterProvider(d ProviderDef) {
	if d.Name == "" || d.Up == nil || d.Help == "" || len(d.SQLEngines) == 0 || strings.Contains(d.Help, "\n") {
		panic(fmt.Sprintf("topology: provider %q needs a name, a one-line help, Up and its SQL engines", d.Name))
	}
	providersMu.Lock()
	defer providersMu.Unlock()
	if _, dup := providers[d.Name]; dup {
		panic("topology: provider " + d.Name + " registered twice")
	}
	providers[d.Name] = d
}

// LookupProvider returns the registration of the named provider.
func LookupProvider(name string) (ProviderDef, bool) {
	providersMu.Lock()
	defer providersMu.Unlock()
	d, ok := providers[name]
	return d, ok
}

// ProviderDefs lists every registered provider, by name.
func ProviderDefs() []ProviderDef {
	providersMu.Lock()
	defer providersMu.Unlock()
	out := make([]ProviderDef, 0, len(providers))
	for _, d := range providers {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Providers lists the registered provider names.
func Providers() []string {
	var out []string
	for _, d := range ProviderDefs() {
		out = append(out, d.Name)
	}
	return out
}

// PerProvider says each registered provider's value of f, for help text:
// "VALUE NAME, VALUE NAME, ..." in name order, skipping empty values.
func PerProvider(f func(ProviderDef) string) string {
	var parts []string
	for _, d := range ProviderDefs() {
		if v := f(d); v != "" {
			parts = append(parts, v+" "+d.Name)
		}
	}
	return strings.Join(parts, ", ")
}

// ScaleHelp says each provider's time scale, for help text.
func ScaleHelp() string {
	return PerProvider(func(d ProviderDef) string { return fmt.Sprint(d.scale()) })
}

// BlobEngineHelp says each provider's default blob engine, for help text.
func BlobEngineHelp() string {
	return PerProvider(func(d ProviderDef) string { return d.blobEngines()[0] })
}

// BlobEngineProviders lists the providers that run the blob engine.
func BlobEngineProviders(engine string) []string {
	var out []string
	for _, d := range ProviderDefs() {
		if slices.Contains(d.blobEngines(), engine) {
			out = append(out, d.Name)
		}
	}
	return out
}

// CommandVersion is the last word of a program's --version line (name is
// looked up in PATH unless it is a path), or "(version unknown)".
func CommandVersion(name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		path = name
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	line := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	if i := strings.LastIndex(line, " "); i >= 0 {
		return line[i+1:]
	}
	return line
}

// ProviderScale is the provider's time scale (DefaultTimeScale if it set
// none or is not registered).
func ProviderScale(name string) float64 {
	d, _ := LookupProvider(name)
	return d.scale()
}

// Attempt is how a provider sizes a client's attempt time-out (wall).
type Attempt struct {
	// Floor is the shortest attempt (0: none beyond the harness's own).
	Floor time.Duration
	// FromLatency: size it from the requests' measured latency.
	FromLatency bool
}

// ProviderAttempt is the provider's attempt sizing (the zero Attempt if it
// set none or is not registered).
func ProviderAttempt(name string) Attempt {
	d, _ := LookupProvider(name)
	return Attempt{Floor: d.AttemptFloor, FromLatency: d.AttemptFromLatency}
}

// ProviderBlobEngine is the provider's default blob engine (BlobEngineS3
// if it set none).
func ProviderBlobEngine(name string) string {
	d, _ := LookupProvider(name)
	return d.blobEngines()[0]
}

// SQLEngines lists the SQL engines some registered provider runs.
func SQLEngines() []string {
	var out []string
	for _, d := range ProviderDefs() {
		for _, e := range d.SQLEngines {
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	return out
}

// CheckEngines fails when the named provider does not run the spec's SQL
// or blob engine ("" is the provider's default), saying which provider
// does. An unregistered provider is not judged here (Up reports it).
func CheckEngines(provider string, spec Spec) error {
	d, ok := LookupProvider(provider)
	if !ok {
		return nil
	}
	check := func(kind, want string, have func(ProviderDef) []string) error {
		if want == "" || slices.Contains(have(d), want) {
			return nil
		}
		var others []string
		for _, o := range ProviderDefs() {
			if slices.Contains(have(o), want) {
				others = append(others, o.Name)
			}
		}
		elsewhere := "no provider runs it"
		if len(others) > 0 {
			elsewhere = "it needs the " + strings.Join(others, " or ") + " provider"
		}
		return fmt.Errorf("%s provider: %s engine %q: %s (%s runs %s)", d.Name, kind, want, elsewhere, d.Name, strings.Join(have(d), ", "))
	}
	if err := check("SQL", spec.SQLEngine, func(d ProviderDef) []string { return d.SQLEngines }); err != nil {
		return err
	}
	return check("blob", spec.BlobEngine, ProviderDef.blobEngines)
}

// Up builds the environment with the named provider. On error the partly
// built environment has already been released.
func Up(ctx context.Context, spec Spec, clk *clock.Clock) (Environment, error) {
	d, ok := LookupProvider(spec.Provider)
	if !ok {
		return nil, fmt.Errorf("unknown provider %q (have %v)", spec.Provider, Providers())
	}
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	return d.Up(ctx, spec, clk)
}

// ErrEngineUnavailable wraps the error of a provider that offers an engine
// whose software is not on this machine (an image not present locally):
// the engine is supported, so a conformance run skips it with the reason
// instead of failing.
var ErrEngineUnavailable = errors.New("engine not available on this machine")
