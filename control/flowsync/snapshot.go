package flowsync

import (
	"net/netip"
	"sync"
	"time"

	"xlb/loader"
)

// snapshot caches the data plane's services and backends, refreshed when a
// lookup misses (at most every 100ms).
type snapshot struct {
	mu       sync.Mutex
	at       time.Time
	services map[loader.ServiceKey]loader.Service
	backends map[uint32]loader.Backend
}

// refresh re-reads the maps once the snapshot is a second old, or, after a
// miss (force), once it is 100ms old: a burst of misses costs one read.
func (c *snapshot) refresh(dp Dataplane, force bool) {
	maxAge := time.Second
	if force {
		maxAge = 100 * time.Millisecond
	}
	if time.Since(c.at) < maxAge {
		return
	}
	svcs, err1 := dp.Services()
	bes, err2 := dp.Backends()
	if err1 == nil && err2 == nil {
		c.services, c.backends, c.at = svcs, bes, time.Now()
	}
}

func (c *snapshot) backendIP(dp Dataplane, id uint32) (netip.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh(dp, false)
	b, ok := c.backends[id]
	if !ok {
		c.refresh(dp, true)
		b, ok = c.backends[id]
	}
	return b.IP, ok
}

// backendID finds the local ids of an entry's service and backend, or why it
// cannot be used here; a service or backend it does not know yet triggers a
// re-read.
func (c *snapshot) backendID(dp Dataplane, e Entry) (svcID, id uint32, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh(dp, false)
	svcID, id, reason = c.find(e)
	if reason == ReasonUnknownService || reason == ReasonUnknownBackend {
		c.refresh(dp, true)
		svcID, id, reason = c.find(e)
	}
	return svcID, id, reason
}

func (c *snapshot) find(e Entry) (uint32, uint32, string) {
	key := loader.ServiceKey{VIP: e.Flow.VIP.Addr(), Port: e.Flow.VIP.Port(), Proto: e.Flow.Proto}
	svc, ok := c.services[key]
	if !ok {
		return 0, 0, ReasonUnknownService
	}
	for id, b := range c.backends {
		if b.ServiceID == svc.ID && b.IP == e.Backend {
			if !usable(b) {
				return 0, 0, ReasonNotUsable
			}
			return svc.ID, id, ""
		}
	}
	return 0, 0, ReasonUnknownBackend
}

// usable reports whether backend id would keep a flow of service svcID: the
// program's own rule for a known flow (active or drained, and still the
// service's).
func (c *snapshot) usable(dp Dataplane, id, svcID uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.backends[id]
	if !ok {
		c.refresh(dp, true)
		b, ok = c.backends[id]
	}
	return ok && b.ServiceID == svcID && usable(b)
}

func usable(b loader.Backend) bool {
	return b.State == loader.BackendActive || b.State == loader.BackendDrained
}
