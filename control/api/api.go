// Package api is xlbd's local control socket: live state that the BPF maps
// do not hold (health reasons, check latency, VRRP state), served as JSON
// over HTTP on a root-only unix socket, and the client xlbctl uses.
//
//	curl --unix-socket /run/xlb/xlbd.sock http://xlbd/v1/status
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"xlb/control/bgp"
	"xlb/control/flowsync"
	"xlb/control/vrrp"
)

// DefaultSocket is where xlbd listens unless told otherwise.
const DefaultSocket = "/run/xlb/xlbd.sock"

// Status is everything xlbd knows that the maps do not say.
type Status struct {
	Version    string            `json:"version"`
	Config     string            `json:"config"`
	LoadedAt   time.Time         `json:"loaded_at"`
	Interfaces []string          `json:"interfaces"`
	Services   []Service         `json:"services"`
	VRRP       []vrrp.Status     `json:"vrrp"`
	BGP        *bgp.Status       `json:"bgp,omitempty"`
	FlowSync   []flowsync.Status `json:"flow_sync"`
	MACs       []MACTracking     `json:"macs"`
	Planes     []Plane           `json:"planes,omitempty"`
	// Events are the latest state changes, oldest first.
	Events []Event `json:"events,omitempty"`
	// Drained: the operator took this director out (xlbctl drain).
	Drained bool `json:"drained,omitempty"`
}

// MACTracking is one interface's backend-MAC tracker: every tracked address
// (backends, then other directors) and the counters.
type MACTracking struct {
	Interface string            `json:"interface"`
	Addresses []MACAddress      `json:"addresses"`
	Refused   map[string]uint64 `json:"refused"`
	Changes   uint64            `json:"changes"`
	Attempts  uint64            `json:"attempts"`
	Failures  uint64            `json:"failures"`
}

// MACAddress is one tracked address. MAC is empty while unresolved; a MAC
// with Failures > 0 is the last known one, kept.
type MACAddress struct {
	IP        netip.Addr `json:"ip"`
	Peer      bool       `json:"peer"`
	MAC       string     `json:"mac"`
	Source    string     `json:"source"`
	Static    bool       `json:"static"`
	Since     time.Time  `json:"since"`
	Confirmed time.Time  `json:"confirmed"`
	Failures  int        `json:"failures"`
	LastError string     `json:"last_error,omitempty"`
}

// Service is a configured service and what the reconciler decided for it.
type Service struct {
	Interface string     `json:"interface"`
	VIP       netip.Addr `json:"vip"`
	Port      uint16     `json:"port"`
	Protocol  string     `json:"protocol"`
	ID        uint32     `json:"id"`
	Scheduler string     `json:"scheduler"`
	Balancing string     `json:"balancing"`
	Backends  []Backend  `json:"backends"`
	// Error says why the service could not be programmed (the maps keep
	// what they held for it); empty when it is.
	Error string `json:"error,omitempty"`
	Name  string `json:"name,omitempty"`
	// Usable: the weight of the active backends reaches Quorum.
	Usable       bool     `json:"usable"`
	ActiveWeight uint32   `json:"active_weight"`
	Quorum       uint32   `json:"quorum"`
	Traffic      *Traffic `json:"traffic,omitempty"`
}

// Key is the service as "VIP:port/protocol", as the metrics label it.
func (s Service) Key() string {
	return netip.AddrPortFrom(s.VIP, s.Port).String() + "/" + s.Protocol
}

// Backend is a real server's decided state and its latest health verdict.
type Backend struct {
	ID          uint32        `json:"id"`
	IP          netip.Addr    `json:"ip"`
	MAC         string        `json:"mac"`
	Weight      uint32        `json:"weight"`
	State       string        `json:"state"`
	Reason      string        `json:"reason"`
	HealthUp    bool          `json:"health_up"`
	Check       string        `json:"check"`
	LastLatency time.Duration `json:"last_check_latency_ns"`
	// Since is when the state last changed (or xlbd started watching).
	Since   time.Time `json:"since"`
	Traffic *Traffic  `json:"traffic,omitempty"`
}

// Serve answers GET /v1/status with status() on a unix socket at path,
// readable by root only, until ctx ends.
func Serve(ctx context.Context, path string, status func() Status) error {
	return ServeControl(ctx, path, Control{Status: status})
}

// Control is what the control socket serves: the status, and the
// operator's commands (nil: refused).
type Control struct {
	Status func() Status
	// Drain takes this director out of (true) or back into (false) the
	// set that attracts traffic.
	Drain func(on bool)
}

// ServeControl is Serve with commands: POST /v1/drain and /v1/undrain.
func ServeControl(ctx context.Context, path string, ctl Control) error {
	status := ctl.Status
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	// A socket file left by a killed daemon is stale; a live daemon still
	// answers on it, and two daemons must not share one socket.
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another xlbd is listening", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control socket permissions: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(status())
	})
	if ctl.Drain != nil {
		mux.HandleFunc("POST /v1/drain", func(w http.ResponseWriter, _ *http.Request) { ctl.Drain(true) })
		mux.HandleFunc("POST /v1/undrain", func(w http.ResponseWriter, _ *http.Request) { ctl.Drain(false) })
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err = srv.Serve(ln)
	os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Command sends a command (drain, undrain) to the daemon listening on path.
func Command(ctx context.Context, path, cmd string) error {
	c := client(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://xlbd/v1/"+cmd, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) || errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w", path, ErrNoDaemon)
		}
		return fmt.Errorf("%s to xlbd at %s: %w", cmd, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s to xlbd at %s: %s", cmd, path, resp.Status)
	}
	return nil
}

func client(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}, Timeout: 5 * time.Second}
}

// ErrNoDaemon is returned by Get when nothing listens on the socket.
var ErrNoDaemon = errors.New("xlbd is not running (no control socket)")

// Get fetches the status from the daemon listening on path.
func Get(ctx context.Context, path string) (Status, error) {
	c := http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://xlbd/v1/status", nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) || errors.Is(err, os.ErrNotExist) {
			return Status{}, fmt.Errorf("%s: %w", path, ErrNoDaemon)
		}
		return Status{}, fmt.Errorf("query xlbd at %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("query xlbd at %s: %s", path, resp.Status)
	}
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return Status{}, fmt.Errorf("decode xlbd status: %w", err)
	}
	return s, nil
}
