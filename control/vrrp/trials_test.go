package vrrp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"xlb/control/vrrp"
	"xlb/test/keepalived"
	"xlb/test/testutil"
)

// childEnv makes the test binary run one instance as a separate process (so
// a test can SIGKILL it like a crashed xlbd) instead of the tests.
const childEnv = "XLB_VRRP_CHILD"

// childSpec names our instance by ourConfig's arguments: a vrrp.Config's
// password does not travel through JSON (secret.Secret prints redacted).
type childSpec struct {
	NetNS    string
	Version  uint8
	Interval time.Duration
	Priority uint8
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(childMain(spec))
	}
	os.Exit(m.Run())
}

// childMain runs one instance in the given namespace until SIGTERM, printing
// "STATE unixnano" for every state change.
func childMain(specJSON string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "child spec:", err)
		return 2
	}
	runtime.LockOSThread()
	h, err := netns.GetFromPath(spec.NetNS)
	if err == nil {
		err = netns.Set(h)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "enter netns:", err)
		return 2
	}
	var mu sync.Mutex
	in, err := vrrp.New(ourConfig(spec.Version, spec.Interval, spec.Priority), vrrp.Options{OnStateChange: func(c vrrp.StateChange) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf("%s %d\n", c.To, c.At.UnixNano())
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "new:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := in.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	return 0
}

// child is our instance in its own process.
type child struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	seen []stateAt
	done chan struct{}
}

type stateAt struct {
	state string
	at    time.Time
}

func startChild(t *testing.T, ns *testutil.NetNS, version uint8, interval time.Duration, prio uint8) *child {
	t.Helper()
	spec, err := json.Marshal(childSpec{NetNS: ns.Path(), Version: version, Interval: interval, Priority: prio})
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	c.cmd.Stderr = os.Stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			c.mu.Lock()
			c.seen = append(c.seen, stateAt{f[0], time.Unix(0, ns)})
			c.mu.Unlock()
		}
		_ = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

func (c *child) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) == 0 {
		return ""
	}
	return c.seen[len(c.seen)-1].state
}

func trials() int {
	if n, err := strconv.Atoi(os.Getenv("XLB_VRRP_TRIALS")); err == nil && n > 0 {
		return n
	}
	return 1
}

type failoverCase struct {
	name      string
	version   uint8
	interval  time.Duration
	advertInt string
	sig       syscall.Signal
}

// bound is the protocol's promise for the case plus slack: SIGKILL leaves
// the backup waiting Master_Down_Interval, SIGTERM (priority 0) Skew_Time.
func (fc failoverCase) bound() time.Duration {
	if fc.sig == syscall.SIGTERM {
		return skew(fc.version, 100, fc.interval) + slack
	}
	if fc.interval < time.Second {
		// "Well under a second" for advert_int 0.1.
		return time.Second
	}
	return masterDown(fc.version, 100, fc.interval) + slack
}

var failoverCases = []failoverCase{
	{"v2-1s-SIGKILL", 2, time.Second, "1", syscall.SIGKILL},
	{"v2-1s-SIGTERM", 2, time.Second, "1", syscall.SIGTERM},
	{"v3-0.1s-SIGKILL", 3, 100 * time.Millisecond, "0.1", syscall.SIGKILL},
}

func summarize(t *testing.T, name string, d []time.Duration) {
	slices.Sort(d)
	t.Logf("FAILOVER %s: n=%d median=%v worst=%v best=%v", name, len(d), d[len(d)/2].Round(time.Millisecond),
		d[len(d)-1].Round(time.Millisecond), d[0].Round(time.Millisecond))
}

// TestFailoverTrialsKeepalivedToXLB measures how long our backup (priority
// 100) takes to become master after the keepalived master (150) dies.
// XLB_VRRP_TRIALS sets the trials per case (default 1: the interop tests
// cover the same paths once more).
func TestFailoverTrialsKeepalivedToXLB(t *testing.T) {
	t.Parallel()
	for _, fc := range failoverCases {
		t.Run(fc.name, func(t *testing.T) {
			l := newLab(t)
			o := startOurs(t, l.ours, ourConfig(fc.version, fc.interval, 100))
			var got []time.Duration
			for i := range trials() {
				ka := keepalived.Start(t, l.ka, kaInstance(int(fc.version), fc.advertInt, 150, "BACKUP"))
				waitUntil(t, "keepalived preempts us", 15*time.Second, func() bool {
					st := o.in.Status()
					return st.State == vrrp.StateBackup && st.MasterAddr == kaAddr && st.MasterPriority == 150
				})
				// Let a few adverts pass so the kill lands at a random phase.
				time.Sleep(2*fc.interval + time.Duration(i)*fc.interval/7)
				start := time.Now()
				ka.Signal(fc.sig)
				waitUntil(t, "takeover", fc.bound(), func() bool { return o.state() == vrrp.StateMaster })
				at := o.waitEntered(t, vrrp.StateMaster, start)
				got = append(got, at.Sub(start))
				if !ka.Wait(10 * time.Second) {
					t.Fatal("keepalived did not exit")
				}
			}
			summarize(t, "keepalived->xlb "+fc.name, got)
		})
	}
}

// TestFailoverTrialsXLBToKeepalived: the reverse. Our instance (priority
// 150) runs as its own process so SIGKILL is a real crash; keepalived (100)
// takes over. keepalived's log is polled, which adds a few ms.
func TestFailoverTrialsXLBToKeepalived(t *testing.T) {
	t.Parallel()
	for _, fc := range failoverCases {
		t.Run(fc.name, func(t *testing.T) {
			l := newLab(t)
			ka := keepalived.Start(t, l.ka, kaInstance(int(fc.version), fc.advertInt, 100, "BACKUP"))
			var got []time.Duration
			for i := range trials() {
				c := startChild(t, l.ours, fc.version, fc.interval, 150)
				waitUntil(t, "we preempt keepalived", 15*time.Second, func() bool {
					return c.last() == "MASTER" && hasVIP(t, l.ours) && !hasVIP(t, l.ka)
				})
				time.Sleep(2*fc.interval + time.Duration(i)*fc.interval/7)
				masters := ka.Entered("MASTER")
				start := time.Now()
				_ = c.cmd.Process.Signal(fc.sig)
				waitUntil(t, "keepalived takes over", fc.bound(), func() bool { return ka.Entered("MASTER") > masters })
				got = append(got, time.Since(start))
				<-c.done
				if fc.sig == syscall.SIGTERM && hasVIP(t, l.ours) {
					t.Fatal("VIP left behind after SIGTERM")
				}
			}
			summarize(t, "xlb->keepalived "+fc.name, got)
		})
	}
}
