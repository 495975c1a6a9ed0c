package containers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// ctrSpec describes one container of the environment.
type ctrSpec struct {
	Name   string // unique within the run; the container is named bcdr-<run>-<name>
	Image  string
	Labels map[string]string
	Env    map[string]string
	Cmd    []string
	User   string
	// Ports maps a container port ("9000/tcp") to a fixed loopback host
	// port, so a restarted container keeps its address.
	Ports map[string]int
	// Networks maps a network name to the container's aliases on it.
	Networks   map[string][]string
	Binds      []string
	ExtraHosts []string
	// Ready, when set, is polled after the start until it returns nil (the
	// testcontainers wait strategies exec a shell, which scratch images lack).
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds the wait (default 60 s).
	ReadyTimeout time.Duration
}

// interrupted is set by the signal handler: no container is created after it.
var interrupted atomic.Bool

// ctr is a running (or stopped, killed, paused) container of the run.
type ctr struct {
	spec ctrSpec
	c    *testcontainers.DockerContainer

	mu     sync.Mutex
	paused bool
	killed bool // killed by us and not started since: certainly not running
}

// run starts a container. On error the partly created container is
// returned too, so that the caller's cleanup removes it.
func run(ctx context.Context, s ctrSpec) (*ctr, error) {
	if interrupted.Load() {
		return &ctr{spec: s}, fmt.Errorf("start container %s: interrupted", s.Name)
	}
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithName(s.Name),
		testcontainers.WithLabels(s.Labels),
	}
	if len(s.Env) > 0 {
		opts = append(opts, testcontainers.WithEnv(s.Env))
	}
	if len(s.Cmd) > 0 {
		opts = append(opts, testcontainers.WithCmd(s.Cmd...))
	}
	var exposed []string
	for p := range s.Ports {
		exposed = append(exposed, p)
	}
	if len(exposed) > 0 {
		opts = append(opts, testcontainers.WithExposedPorts(exposed...))
	}
	for name, aliases := range s.Networks {
		opts = append(opts, tcnetwork.WithNetworkName(aliases, name))
	}
	opts = append(opts, testcontainers.WithConfigModifier(func(c *container.Config) {
		if s.User != "" {
			c.User = s.User
		}
	}))
	opts = append(opts, testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		hc.Binds = append(hc.Binds, s.Binds...)
		hc.ExtraHosts = append(hc.ExtraHosts, s.ExtraHosts...)
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		for p, hp := range s.Ports {
			hc.PortBindings[network.MustParsePort(p)] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: itoa(hp)}}
		}
	}))
	c, err := testcontainers.Run(ctx, s.Image, opts...)
	out := &ctr{spec: s, c: c}
	if err != nil {
		return out, fmt.Errorf("start container %s (%s): %w", s.Name, s.Image, err)
	}
	if err := out.waitReady(ctx); err != nil {
		return out, err
	}
	return out, nil
}

// waitReady polls the spec's readiness check.
func (c *ctr) waitReady(ctx context.Context) error {
	if c.spec.Ready == nil {
		return nil
	}
	d := c.spec.ReadyTimeout
	if d <= 0 {
		d = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var last error
	for {
		if last = c.spec.Ready(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container %s not ready after %s: %w (logs: %s)", c.spec.Name, d, last, c.logTail(context.Background()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail returns the last lines of the container's output.
func (c *ctr) logTail(ctx context.Context) string {
	if c.c == nil {
		return ""
	}
	r, err := c.c.Logs(ctx)
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return lastLines(string(b), 8)
}

// httpReady is a readiness check: GET url answers 200.
func httpReady(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// ID is the Docker container id ("" when it was never created).
func (c *ctr) ID() string {
	if c == nil || c.c == nil {
		return ""
	}
	return c.c.GetContainerID()
}

// Kill sends SIGKILL: a power loss for what runs inside.
func (c *ctr) Kill(ctx context.Context) error {
	cli, err := docker(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	paused := c.paused
	c.mu.Unlock()
	if paused {
		_ = c.Unpause(ctx)
	}
	if _, err := cli.ContainerKill(ctx, c.ID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil && !strings.Contains(err.Error(), "is not running") {
		return fmt.Errorf("kill container %s: %w", c.spec.Name, err)
	}
	// The signal is sent; wait until the engine has seen the exit, so a
	// start right after works and "killed" below is the truth.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		res, err := cli.ContainerInspect(ctx, c.ID(), client.ContainerInspectOptions{})
		if err != nil || res.Container.State == nil || !res.Container.State.Running {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.mu.Lock()
	c.killed = true
	c.mu.Unlock()
	return nil
}

// Start starts a stopped or killed container again (same ports, same data).
func (c *ctr) Start(ctx context.Context) error {
	cli, err := docker(ctx)
	if err != nil {
		return err
	}
	if _, err := cli.ContainerStart(ctx, c.ID(), client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", c.spec.Name, err)
	}
	c.mu.Lock()
	c.killed = false
	c.mu.Unlock()
	return nil
}

// Stop stops the container gracefully (SIGTERM, then SIGKILL).
func (c *ctr) Stop(ctx context.Context, timeout time.Duration) error {
	cli, err := docker(ctx)
	if err != nil {
		return err
	}
	secs := int(timeout.Seconds())
	if _, err := cli.ContainerStop(ctx, c.ID(), client.ContainerStopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop container %s: %w", c.spec.Name, err)
	}
	return nil
}

// Pause freezes every process of the container (cgroup freezer).
func (c *ctr) Pause(ctx context.Context) error {
	cli, err := docker(ctx)
	if err != nil {
		return err
	}
	if _, err := cli.ContainerPause(ctx, c.ID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause container %s: %w", c.spec.Name, err)
	}
	c.mu.Lock()
	c.paused = true
	c.mu.Unlock()
	return nil
}

// Unpause thaws a paused container.
func (c *ctr) Unpause(ctx context.Context) error {
	cli, err := docker(ctx)
	if err != nil {
		return err
	}
	if _, err := cli.ContainerUnpause(ctx, c.ID(), client.ContainerUnpauseOptions{}); err != nil && !strings.Contains(err.Error(), "is not paused") {
		return fmt.Errorf("unpause container %s: %w", c.spec.Name, err)
	}
	c.mu.Lock()
	c.paused = false
	c.mu.Unlock()
	return nil
}

// Disconnect removes the container from a network: its peers there can no
// longer reach it, nor it them.
func (c *ctr) Disconnect(ctx context.Context, networkName string) error {
	cli, err := docker(ctx)
	if err != nil {
		return err
	}
	if _, err := cli.NetworkDisconnect(ctx, networkName, client.NetworkDisconnectOptions{Container: c.ID(), Force: true}); err != nil {
		return fmt.Errorf("disconnect container %s from network %s: %w", c.spec.Name, networkName, err)
	}
	return nil
}

// Reconnect attaches the container to a network again, with its aliases.
func (c *ctr) Reconnect(ctx context.Context, networkName string) error {
	cli, err := docker(ctx)
	if err != nil {
		return err
	}
	_, err = cli.NetworkConnect(ctx, networkName, client.NetworkConnectOptions{
		Container:      c.ID(),
		EndpointConfig: &network.EndpointSettings{Aliases: c.spec.Networks[networkName]},
	})
	if err != nil {
		return fmt.Errorf("reconnect container %s to network %s: %w", c.spec.Name, networkName, err)
	}
	return nil
}

// State reads whether the container runs and whether it is paused. A
// container we killed (and did not start since) is known to be down
// without asking the engine.
func (c *ctr) State(ctx context.Context) (running, paused bool, err error) {
	c.mu.Lock()
	killed := c.killed
	c.mu.Unlock()
	if killed {
		return false, false, nil
	}
	cli, err := docker(ctx)
	if err != nil {
		return false, false, err
	}
	res, err := cli.ContainerInspect(ctx, c.ID(), client.ContainerInspectOptions{})
	if err != nil {
		return false, false, fmt.Errorf("inspect container %s: %w", c.spec.Name, err)
	}
	st := res.Container.State
	if st == nil {
		return false, false, nil
	}
	return st.Running, st.Paused, nil
}

// Exec runs a command in the container and returns its combined output; a
// non-zero exit is an error that carries the output.
func (c *ctr) Exec(ctx context.Context, cmd []string, user string) (string, error) {
	opts := []tcexec.ProcessOption{tcexec.Multiplexed()}
	if user != "" {
		opts = append(opts, tcexec.WithUser(user))
	}
	code, r, err := c.c.Exec(ctx, cmd, opts...)
	if err != nil {
		return "", fmt.Errorf("exec %q in %s: %w", strings.Join(cmd, " "), c.spec.Name, err)
	}
	b, _ := io.ReadAll(r)
	out := string(b)
	if code != 0 {
		return out, fmt.Errorf("exec %q in %s exited %d: %s", strings.Join(cmd, " "), c.spec.Name, code, lastLines(out, 5))
	}
	return out, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
