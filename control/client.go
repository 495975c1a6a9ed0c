package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
)

// Status is the state of a running environment (GET /v1/status).
type Status struct {
	Scenario   string  `json:"scenario"`
	Provider   string  `json:"provider"`
	SQLEngine  string  `json:"sql_engine"`
	TimeScale  float64 `json:"time_scale"`
	UpWallS    float64 `json:"up_wall_s"`
	UpServiceS float64 `json:"up_service_s"`
	// Active is the region the front door sends clients to.
	Active string `json:"active_region"`
	// LimitedMode is nil when it could not be read (LimitedModeError says why).
	LimitedMode      *bool          `json:"limited_mode"`
	LimitedModeError string         `json:"limited_mode_error,omitempty"`
	Regions          []RegionStatus `json:"regions"`
	SQL              SQLStatus      `json:"sql"`
	Blob             BlobStatus     `json:"blob"`
	Links            []LinkStatus   `json:"links"`
	Faults           []ActiveFault  `json:"faults"`
	Workload         WorkloadCounts `json:"workload"`
	// Events are the newest harness and runbook events.
	Events []Event `json:"events,omitempty"`
}

// RegionStatus is one region.
type RegionStatus struct {
	Name     string `json:"name"`
	Role     string `json:"role"` // primary (active) or secondary
	SQLRole  string `json:"sql_role"`
	BlobRole string `json:"blob_role"`
	Up       bool   `json:"up"`
	Endpoint string `json:"endpoint"`
	// Instances are the AOS instances with their fault domains.
	Instances []InstanceStatus `json:"instances"`
}

// InstanceStatus is one AOS instance.
type InstanceStatus struct {
	ID          string `json:"id"`
	Index       int    `json:"index"`
	FaultDomain int    `json:"fault_domain"`
	Alive       bool   `json:"alive"`   // process runs and is not frozen
	Healthy     bool   `json:"healthy"` // passed its load balancer's last probe
}

// SQLStatus is log shipping with its lag.
type SQLStatus struct {
	topology.ShippingStatus
	LagServiceS float64 `json:"lag_service_s"`
	LagWallS    float64 `json:"lag_wall_s"`
	Error       string  `json:"error,omitempty"`
}

// BlobStatus is blob replication with its lag.
type BlobStatus struct {
	topology.ReplicationStatus
	LagServiceS float64 `json:"lag_service_s"`
	LagWallS    float64 `json:"lag_wall_s"`
	Error       string  `json:"error,omitempty"`
}

// LinkStatus is one named network path; Cut is nil when the provider cannot tell.
type LinkStatus struct {
	Name string `json:"name"`
	Cut  *bool  `json:"cut,omitempty"`
}

// Event is a recorded harness or runbook event.
type Event struct {
	Name     string         `json:"name"`
	Wall     time.Time      `json:"wall"`
	ServiceS float64        `json:"service_s"`
	Value    map[string]any `json:"value,omitempty"`
}

// Client talks to the control API of the environment in a state directory.
type Client struct {
	State State
	http  *http.Client
}

// RequestError is a request the environment refused as given (unknown
// fault, bad parameter, nothing to recover): the CLI exits 254 on it.
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

// Unreachable means the state file names a process that is gone or does not answer.
type Unreachable struct {
	Dir string
	Err error
}

func (e *Unreachable) Error() string {
	return fmt.Sprintf("the environment under %s does not answer (%v); bcdr down removes what is left", e.Dir, e.Err)
}

func (e *Unreachable) Unwrap() error { return e.Err }

// Dial reads the state directory and returns a client for its environment.
func Dial(dir string) (*Client, error) {
	st, err := ReadState(dir)
	if err != nil {
		return nil, err
	}
	c := &Client{State: st, http: &http.Client{Timeout: 4 * time.Minute}}
	if !Alive(st.Pid) {
		return c, &Unreachable{Dir: dir, Err: fmt.Errorf("process %d is gone", st.Pid)}
	}
	return c, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.State.Control+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.State.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &Unreachable{Dir: "the state directory", Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var ae apiError
		if json.Unmarshal(b, &ae) == nil && ae.Error != "" {
			if ae.BadRequest {
				return &RequestError{Msg: ae.Error}
			}
			return fmt.Errorf("%s", ae.Error)
		}
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// Status reads the environment's state.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Inject injects a fault from the catalogue.
func (c *Client) Inject(ctx context.Context, name string, params map[string]string) (ActiveFault, error) {
	var af ActiveFault
	err := c.do(ctx, http.MethodPost, "/v1/faults", InjectRequest{Name: name, Params: params}, &af)
	return af, err
}

// Faults lists the injected faults.
func (c *Client) Faults(ctx context.Context) ([]ActiveFault, error) {
	var out []ActiveFault
	err := c.do(ctx, http.MethodGet, "/v1/faults", nil, &out)
	return out, err
}

// Recover recovers faults by id, name or "all".
func (c *Client) Recover(ctx context.Context, target string) ([]ActiveFault, error) {
	var out []ActiveFault
	err := c.do(ctx, http.MethodPost, "/v1/recover", RecoverRequest{Target: target}, &out)
	return out, err
}

// Down asks the environment to tear itself down; it returns once the
// request was accepted, not when the teardown finished (see Alive).
func (c *Client) Down(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/down", struct{}{}, nil)
}
