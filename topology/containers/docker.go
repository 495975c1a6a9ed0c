package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/ports"
)

// Labels every container, network and volume of a run carries.
const (
	LabelRun     = "bcdr.run"     // the run id
	LabelRegion  = "bcdr.region"  // a, b, or absent for shared parts
	LabelRole    = "bcdr.role"    // sql, blob, aos, toxiproxy
	LabelFD      = "bcdr.fd"      // an AOS instance's fault domain
	LabelIndex   = "bcdr.index"   // an AOS instance's index in its region
	LabelImage   = "bcdr.image"   // images built by scripts/build-images.sh
	LabelCreator = "bcdr.creator" // always "bcdr"
)

var (
	dockerOnce sync.Once
	dockerCli  *testcontainers.DockerClient
	dockerErr  error
)

// docker returns the shared Docker client.
func docker(ctx context.Context) (*testcontainers.DockerClient, error) {
	dockerOnce.Do(func() {
		// Ryuk cannot be pulled here; the provider cleans up by label. The
		// setting must be in place before testcontainers reads its config.
		if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
			os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
		if os.Getenv("BCDR_DEBUG") == "" {
			tclog.SetDefault(tclog.NewNoopLogger())
		}
		dockerCli, dockerErr = testcontainers.NewDockerClientWithOpts(ctx)
	})
	if dockerErr != nil {
		return nil, fmt.Errorf("docker client: %w", dockerErr)
	}
	return dockerCli, nil
}

// DockerAvailable reports whether a Docker engine answers.
func DockerAvailable(ctx context.Context) error {
	cli, err := docker(ctx)
	if err != nil {
		return err
	}
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	return nil
}

// ImagePresent reports whether an image is in the local engine.
func ImagePresent(ctx context.Context, image string) bool {
	return exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", image).Run() == nil
}

// Clean removes every container (with its anonymous volumes), network and
// volume labelled with the run id; "" removes those of every bcdr run. It
// is what `bcdr clean` runs after a killed run, and what Close runs always.
func Clean(ctx context.Context, runID string) error {
	cli, err := docker(ctx)
	if err != nil {
		return err
	}
	f := make(client.Filters)
	if runID == "" {
		f.Add("label", LabelRun)
	} else {
		f.Add("label", LabelRun+"="+runID)
	}
	var errs []error
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("clean: list containers: %w", err)
	}
	for _, c := range cs.Items {
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("clean: remove container %s: %w", shortID(c.ID), err))
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("clean: list networks: %w", err))...)
	}
	for _, n := range ns.Items {
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("clean: remove network %s: %w", n.Name, err))
		}
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("clean: list volumes: %w", err))...)
	}
	for _, v := range vs.Items {
		if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("clean: remove volume %s: %w", v.Name, err))
		}
	}
	// Work directories of runs that could not remove their own.
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), workDirPrefix+runID+"*"))
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("clean: remove work dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

// cleanSettle is how long nothing labelled with the run must stay gone for
// CleanUntilGone to be done: a Docker call in flight when the first pass
// listed (a container being created, a network Docker still holds an
// endpoint in) shows up or goes within it.
const cleanSettle = time.Second

// CleanUntilGone runs Clean until nothing labelled with the run is left,
// seen twice cleanSettle apart, or ctx ends (then it says what is left). One
// pass is not enough while the run is still creating, or while Docker
// frees a removed container's endpoint: the network it was on refuses to
// go ("has active endpoints") and a single pass left it behind.
func CleanUntilGone(ctx context.Context, runID string) error {
	delay, emptySince := 100*time.Millisecond, time.Time{}
	for {
		err := Clean(ctx, runID)
		l, lerr := leftovers(ctx, runID)
		n := len(l["containers"]) + len(l["networks"]) + len(l["volumes"])
		switch {
		case lerr == nil && n == 0 && emptySince.IsZero():
			emptySince = time.Now()
		case lerr == nil && n == 0 && time.Since(emptySince) >= cleanSettle:
			return nil
		case n > 0 || lerr != nil:
			emptySince = time.Time{}
		}
		wait := delay
		if !emptySince.IsZero() {
			wait = cleanSettle
		}
		select {
		case <-ctx.Done():
			if lerr == nil && n == 0 {
				return nil
			}
			return errors.Join(err, lerr, fmt.Errorf("clean run %s: still left when time ran out: %v", runID, l))
		case <-time.After(wait):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// cleanUp is the provider's part of bcdr clean (topology.ProviderDef.Clean):
// Clean, when Docker answers, with a line saying what it removed.
func cleanUp(ctx context.Context, o topology.CleanOptions) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if DockerAvailable(ctx) != nil {
		return nil
	}
	c, nw, v, err := Leftovers(ctx, o.RunID)
	line := fmt.Sprintf("%d containers, %d networks, %d volumes labelled %s", c, nw, v, LabelRun)
	if o.DryRun {
		if err == nil && c+nw+v > 0 {
			o.Report(line)
		}
		return nil
	}
	if err := Clean(ctx, o.RunID); err != nil {
		return err
	}
	if c+nw+v > 0 {
		o.Report(line)
	}
	return nil
}

// Leftovers counts the containers, networks and volumes labelled with the
// run id ("" = any bcdr run): what Clean would remove.
func Leftovers(ctx context.Context, runID string) (containers, networks, volumes int, err error) {
	l, err := leftovers(ctx, runID)
	return len(l["containers"]), len(l["networks"]), len(l["volumes"]), err
}

// leftovers lists the containers and networks (by short id) and volumes (by
// name) labelled with the run id ("" = any bcdr run), by kind
// (topology.ProviderDef.Leftovers).
func leftovers(ctx context.Context, runID string) (map[string][]string, error) {
	cli, err := docker(ctx)
	if err != nil {
		return nil, err
	}
	f := make(client.Filters)
	if runID == "" {
		f.Add("label", LabelRun)
	} else {
		f.Add("label", LabelRun+"="+runID)
	}
	l := map[string][]string{}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, err
	}
	for _, c := range cs.Items {
		l["containers"] = append(l["containers"], shortID(c.ID))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, err
	}
	for _, n := range ns.Items {
		l["networks"] = append(l["networks"], shortID(n.ID))
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return nil, err
	}
	for _, v := range vs.Items {
		l["volumes"] = append(l["volumes"], v.Name)
	}
	return l, nil
}

func isNotFound(err error) bool {
	return err != nil && cerrdefs.IsNotFound(err)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// freePort returns a loopback port free at the moment and never handed out
// before in this process (package ports): containers publish on fixed host
// ports so that a restarted container keeps its address.
func freePort() (int, error) {
	p, err := ports.Port()
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return p, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func getenv(k string) string { return os.Getenv(k) }
