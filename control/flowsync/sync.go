package flowsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"xlb/control/flowsync/group"
	"xlb/loader"
)

// HowToEnable tells an operator how to turn flow sync on; xlbd says it when
// flow sync is off for want of a key.
const HowToEnable = "write a key on one director: (umask 077; openssl rand -hex 32 > /etc/xlb/flowsync.key), " +
	"copy it (mode 0600, owner root) to every director, and run xlbd with --flow-sync-key /etc/xlb/flowsync.key " +
	"(systemd: XLBD_ARGS); --flow-sync-peer ADDR limits the senders accepted (default: the VRRP unicast peers, " +
	"else any host on the interface's subnets)"

// Dataplane is what a Syncer reads and writes: *loader.Dataplane.
type Dataplane interface {
	FlowEventReader() (*loader.FlowEventReader, error)
	Flow(loader.FlowKey) (uint32, bool, error)
	Flows(func(loader.FlowKey, uint32) bool) error
	MaxFlows() uint32
	AddFlow(loader.FlowKey, uint32) (bool, error)
	SetFlow(loader.FlowKey, uint32) error
	Services() (map[loader.ServiceKey]loader.Service, error)
	Backends() (map[uint32]loader.Backend, error)
}

// Options configure a Syncer. Keys is required; zero values of the rest get
// the defaults New states.
type Options struct {
	// Group is the multicast group:port (default DefaultGroup); its family
	// is the transport's (IPv6: a link-local group, see group.Valid).
	Group netip.AddrPort
	Keys  *Keyring
	// Peers are the only senders accepted, of Group's family. Empty: any
	// sender on the sync interface's subnets of that family, link-local
	// ones included (TTL 255 already proves it is on the segment).
	Peers []netip.Addr
	// Source is the address datagrams are sent from; default the
	// interface's first IPv4 address, or its IPv6 link-local one.
	Source netip.Addr
	// Rate and Burst bound the datagrams applied per second from one sender
	// (default 5000/s, burst 1000: 330k flows/s, above what a table dump
	// sends, so the limit only bites on a flood).
	Rate  float64
	Burst int
	// MaxSkew bounds how far a datagram's send time may be from the
	// receiver's clock (default 30s).
	MaxSkew time.Duration
	// BulkRate paces a table dump (default 2000 datagrams/s: 1M flows in
	// about 8s; a joiner whose socket overflowed asks again, slower);
	// AnswerWait is how long a joining director waits for any peer to
	// start a dump (default 3s: none did, so no peer is up and there is
	// nothing to learn); BulkWait bounds the whole wait for dumps, after
	// which it counts itself synced anyway (default 1m);
	// BulkCooldown is the least time between two dumps (default 2s).
	BulkRate     float64
	AnswerWait   time.Duration
	BulkWait     time.Duration
	BulkCooldown time.Duration
	// Ready reports whether this director's data plane can take a table
	// dump: a joiner whose backends are not programmed yet (no MAC
	// resolved, the first checks not run) would drop every entry naming
	// them as not usable. The join asks for the tables once Ready says so,
	// or after AnswerWait regardless (a backend that stays unresolved must
	// not hold the director out forever). Nil: ready at once.
	Ready func() bool
	// ReadBuffer is the receive socket's buffer in bytes (default 4 MiB:
	// about 1,800 full datagrams, a table dump's burst while the flow-table
	// writes catch up).
	ReadBuffer int
	Log        *slog.Logger
}

// Status counts what a Syncer did.
type Status struct {
	Interface string   `json:"interface"`
	Group     string   `json:"group"`
	Source    string   `json:"source"`
	Peers     []string `json:"peers"` // empty: any sender on the interface's subnets
	KeyIDs    []int    `json:"key_ids"`
	Sent      uint64   `json:"flows_sent"`
	Received  uint64   `json:"flows_received"`
	Applied   uint64   `json:"flows_applied"`  // written: new here, or replacing an unusable entry
	Replaced  uint64   `json:"flows_replaced"` // of Applied, those that replaced an entry
	Unchanged uint64   `json:"flows_unchanged"`
	// Synced: the table dumps asked for at start arrived (or none came
	// within the wait).
	Synced        bool   `json:"synced"`
	BulkRequests  uint64 `json:"bulk_requests_sent"`
	BulkDumps     uint64 `json:"bulk_dumps_sent"`
	BulkFlowsSent uint64 `json:"bulk_flows_sent"`
	// BulkLost counts dump datagrams that never arrived here (each loss
	// makes this director ask again, slower).
	BulkLost uint64 `json:"bulk_datagrams_lost"`
	// Dropped counts refused datagrams and entries, by reason (see Reason*).
	Dropped map[string]uint64 `json:"dropped"`
}

// Reasons a datagram is dropped (whole) or an entry is not applied.
const (
	ReasonInterface      = "interface"       // arrived on another interface
	ReasonOwn            = "own_address"     // claims our address: our socket does not loop back, so another local program sent it
	ReasonNotGroup       = "not_group"       // sent to an address that is not the group (unicast)
	ReasonTTL            = "ttl"             // TTL not 255: routed, not from the segment
	ReasonNotPeer        = "not_peer"        // source is not an accepted peer
	ReasonMalformed      = "malformed"       // framing, length, version, kind or entry invalid
	ReasonAuth           = "auth"            // unknown key id or wrong HMAC
	ReasonSender         = "sender_mismatch" // authenticated sender is not the source address
	ReasonReplay         = "replay"          // sequence number seen before, or an older epoch
	ReasonStale          = "stale"           // send time outside MaxSkew
	ReasonRate           = "rate"            // sender over its rate
	ReasonBulkBusy       = "bulk_busy"       // a dump runs or ran within BulkCooldown
	ReasonUnknownService = "unknown_service" // entry's service is not configured here
	ReasonUnknownBackend = "unknown_backend" // entry's backend is not a backend of that service here
	ReasonNotUsable      = "backend_not_usable"
	ReasonKeptLocal      = "kept_local" // a usable local entry differs: kept (see Decide)
	ReasonWrite          = "write_error"
	ReasonSend           = "send_error"
	ReasonLocalBackend   = "unknown_local_backend" // an event names a backend id not in the maps
)

// Syncer sends this director's recorded flows to its peers and applies
// theirs.
type Syncer struct {
	dp    Dataplane
	opts  Options
	log   *slog.Logger
	keys  atomic.Pointer[Keyring]
	epoch uint64
	seq   atomic.Uint64

	// cur is the netdev the syncer works on; Reopen replaces it whole
	// (under netMu, which Start's stop takes too: stopped, nothing opens).
	cur     atomic.Pointer[netdev]
	netMu   sync.Mutex
	stopped bool

	// receive state, touched by the receive goroutine only
	replay   *Replay
	limiters map[netip.Addr]*rate.Limiter
	bulk     bulkJoin

	lastDump atomic.Int64 // Unix ns of the last dump's start
	dumping  atomic.Bool
	dumps    sync.WaitGroup // a running dump: Start's wait waits for it too
	synced   chan struct{}
	syncOnce sync.Once
	joined   chan joinResult // from the receiver to join: every dump of a round ended

	sent, received, applied, replaced, unchanged atomic.Uint64
	bulkRequests, bulkDumps, bulkFlows, bulkLost atomic.Uint64
	mu                                           sync.Mutex
	dropped                                      map[string]uint64
	ids                                          snapshot
}

// netdev is the interface as the syncer opened it: its socket (nil before
// Start), the address it sends from and its subnets.
type netdev struct {
	iface  *net.Interface
	conn   conn
	src    netip.Addr
	onLink []netip.Prefix
}

// New returns a syncer for dp on iface; it needs opts.Keys.
func New(dp Dataplane, iface *net.Interface, opts Options) (*Syncer, error) {
	if opts.Keys == nil {
		return nil, ErrNoKey
	}
	if !opts.Group.IsValid() {
		opts.Group = DefaultGroup
	}
	if err := group.Valid(opts.Group); err != nil {
		return nil, fmt.Errorf("flow sync: %w", err)
	}
	// Received sources carry no zone: the interface is the sync one.
	peers := make([]netip.Addr, 0, len(opts.Peers))
	for _, p := range opts.Peers {
		peers = append(peers, p.WithZone(""))
	}
	opts.Peers, opts.Source = peers, opts.Source.WithZone("")
	for _, p := range append(slices.Clip(peers), opts.Source) {
		if p.IsValid() && p.Is6() != opts.Group.Addr().Is6() {
			return nil, fmt.Errorf("flow sync: peer or source %s is not of the group %s's family", p, opts.Group)
		}
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.Rate, 5000)
	def(&opts.BulkRate, 2000)
	if opts.Burst == 0 {
		opts.Burst = 1000
	}
	if opts.ReadBuffer == 0 {
		opts.ReadBuffer = 4 << 20
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&opts.MaxSkew, 30 * time.Second}, {&opts.AnswerWait, 3 * time.Second}, {&opts.BulkWait, time.Minute}, {&opts.BulkCooldown, 2 * time.Second}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Syncer{dp: dp, opts: opts, log: opts.Log, epoch: uint64(time.Now().UnixNano()),
		replay: NewReplay(opts.MaxSkew), limiters: map[netip.Addr]*rate.Limiter{}, synced: make(chan struct{}), joined: make(chan joinResult, 1),
		dropped: map[string]uint64{}}
	s.keys.Store(opts.Keys)
	s.cur.Store(&netdev{iface: iface})
	return s, nil
}

// SetKeys replaces the keys (SIGHUP after a rotation step): datagrams are
// sealed with the new sending key from the next one on.
func (s *Syncer) SetKeys(k *Keyring) { s.keys.Store(k) }

// Synced is closed once the table dumps asked for at start have arrived, or
// BulkWait passed without them: from then on this director knows the flows
// its peers carry, and may attract traffic.
func (s *Syncer) Synced() <-chan struct{} { return s.synced }

// Status is a snapshot of the counters.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.cur.Load()
	st := Status{Interface: n.iface.Name, Group: s.opts.Group.String(), KeyIDs: s.keys.Load().IDs(),
		Sent: s.sent.Load(), Received: s.received.Load(), Applied: s.applied.Load(), Replaced: s.replaced.Load(),
		Unchanged: s.unchanged.Load(), BulkRequests: s.bulkRequests.Load(), BulkDumps: s.bulkDumps.Load(),
		BulkFlowsSent: s.bulkFlows.Load(), BulkLost: s.bulkLost.Load(), Dropped: map[string]uint64{}}
	if n.src.IsValid() {
		st.Source = n.src.String()
	}
	for _, p := range s.opts.Peers {
		st.Peers = append(st.Peers, p.String())
	}
	st.Synced = s.isSynced()
	for k, v := range s.dropped {
		st.Dropped[k] = v
	}
	return st
}

func (s *Syncer) drop(reason string) {
	s.mu.Lock()
	s.dropped[reason]++
	s.mu.Unlock()
}

// Run sends and receives until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	wait, err := s.Start(ctx)
	if err != nil {
		return err
	}
	wait()
	return nil
}

// Start opens the socket (in the calling thread's network namespace), asks
// the peers for their tables, and syncs in the background until ctx ends;
// wait blocks until it has stopped.
func (s *Syncer) Start(ctx context.Context) (wait func(), err error) {
	n, err := s.open(s.cur.Load().iface)
	if err != nil {
		return nil, err
	}
	s.cur.Store(n)
	events, err := s.dp.FlowEventReader()
	if err != nil {
		n.conn.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); s.receive(ctx) }()
	go func() { defer wg.Done(); s.send(ctx, events) }()
	go func() { defer wg.Done(); s.join(ctx) }()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		s.netMu.Lock()
		s.stopped = true
		s.cur.Load().conn.Close()
		s.netMu.Unlock()
		events.Close()
	}()
	// The caller's logger names the interface (xlbd: one logger per plane).
	s.log.Info("flow sync running", "group", s.opts.Group, "source", n.src,
		"peers", s.opts.Peers, "key_ids", s.keys.Load().IDs())
	return func() {
		wg.Wait()
		s.dumps.Wait()
		cancel()
	}, nil
}

// Interface is the netdev the syncer works on, as it was when opened or
// reopened.
func (s *Syncer) Interface() *net.Interface { return s.cur.Load().iface }

// Reopen moves a started syncer to iface, the same interface under a new
// index (a netdev deleted and created again): a socket bound to it and a
// member of the group there, its addresses read again. Keys, replay state,
// rate limiters, counters and the sequence go on: to the peers it is the
// same sender. Datagrams queued on the old socket are lost, as they would
// have been on the dead netdev.
func (s *Syncer) Reopen(iface *net.Interface) error {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if s.stopped || s.cur.Load().conn == nil {
		return errors.New("flow sync: not running")
	}
	n, err := s.open(iface)
	if err != nil {
		return err
	}
	s.cur.Swap(n).conn.Close()
	s.log.Info("flow sync follows the interface", "ifindex", iface.Index, "source", n.src)
	return nil
}

// open reads iface's addresses and opens the socket on it.
func (s *Syncer) open(iface *net.Interface) (*netdev, error) {
	n := &netdev{iface: iface}
	if err := s.addresses(n); err != nil {
		return nil, err
	}
	var err error
	if n.conn, err = listen(iface, s.opts.Group, s.opts.ReadBuffer); err != nil {
		return nil, err
	}
	return n, nil
}

// addresses finds n's source address and subnets in the group's family:
// for IPv4 the interface's first address, for IPv6 its link-local one
// (as VRRP speaks from it, RFC 5798 5.1.2.1), unless Options.Source says.
func (s *Syncer) addresses(n *netdev) error {
	is6 := s.opts.Group.Addr().Is6()
	addrs, err := n.iface.Addrs()
	if err != nil {
		return fmt.Errorf("flow sync: addresses of %s: %w", n.iface.Name, err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := addrOf(ipn.IP)
		if !ip.IsValid() || ip.Is6() != is6 {
			continue
		}
		ones, _ := ipn.Mask.Size()
		n.onLink = append(n.onLink, netip.PrefixFrom(ip, ones).Masked())
		if !n.src.IsValid() && (!is6 || ip.IsLinkLocalUnicast()) {
			n.src = ip
		}
	}
	if s.opts.Source.IsValid() {
		n.src = s.opts.Source
	}
	switch {
	case n.src.IsValid():
		return nil
	case is6:
		return fmt.Errorf("flow sync: %s has no IPv6 link-local address to send from (is IPv6 disabled on it?)", n.iface.Name)
	}
	return fmt.Errorf("flow sync: %s has no IPv4 address to send from", n.iface.Name)
}

// write seals m with the sending key and sends it to the group.
func (s *Syncer) write(m Message) error {
	n := s.cur.Load()
	m.Sender, m.Epoch, m.Seq, m.SentAt = n.src, s.epoch, s.seq.Add(1), time.Now().UnixMilli()
	b, err := Seal(s.keys.Load().Send(), m)
	if err != nil {
		return err
	}
	return n.conn.write(b, n.src, n.iface.Index, s.opts.Group)
}

// batches are a sender's pending entries, one batch per family (a datagram
// carries one family).
type batches struct {
	b       [2][]Entry // IPv4, IPv6
	sender6 bool       // sent over IPv6 (a longer header: see Capacity)
	flush   func([]Entry) bool
}

// add queues e and sends its family's batch once full; false: a send failed
// (flush said so), or e's addresses are not of one family (never from the
// data plane, which keeps a service and its backends one family).
func (q *batches) add(e Entry) bool {
	is6, err := Family([]Entry{e})
	if err != nil {
		return false
	}
	i := 0
	if is6 {
		i = 1
	}
	limit := Capacity(q.sender6, is6)
	q.b[i] = append(q.b[i], e)
	if len(q.b[i]) < limit {
		return true
	}
	return q.flushOne(i)
}

func (q *batches) flushOne(i int) bool {
	if len(q.b[i]) == 0 {
		return true
	}
	ok := q.flush(q.b[i])
	q.b[i] = q.b[i][:0]
	return ok
}

// flushAll sends both batches.
func (q *batches) flushAll() bool { return q.flushOne(0) && q.flushOne(1) }

// send batches the ring's events into datagrams: up to Capacity, or what
// came within 20ms.
func (s *Syncer) send(ctx context.Context, events *loader.FlowEventReader) {
	q := batches{sender6: s.opts.Group.Addr().Is6(), flush: func(batch []Entry) bool {
		if err := s.write(Message{Kind: KindFlows, Entries: batch}); err != nil {
			s.log.Warn("flow sync send", "error", err, "flows", len(batch))
			s.drop(ReasonSend)
		} else {
			s.sent.Add(uint64(len(batch)))
		}
		return true
	}}
	deadline := time.Now().Add(20 * time.Millisecond)
	for ctx.Err() == nil {
		ev, err := events.Read(time.Until(deadline))
		switch {
		case errors.Is(err, loader.ErrReaderClosed):
			q.flushAll()
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			q.flushAll()
			deadline = time.Now().Add(20 * time.Millisecond)
			continue
		case err != nil:
			s.log.Warn("flow sync: read flow event", "error", err)
			continue
		}
		ip, ok := s.ids.backendIP(s.dp, ev.BackendID)
		if !ok {
			s.drop(ReasonLocalBackend)
			continue
		}
		if !q.add(Entry{Flow: ev.Flow, Backend: ip}) {
			s.drop(ReasonSend)
		}
		if time.Now().After(deadline) {
			q.flushAll()
			deadline = time.Now().Add(20 * time.Millisecond)
		}
	}
}

func (s *Syncer) receive(ctx context.Context) {
	buf := make([]byte, 2048)
	for {
		cur := s.cur.Load()
		n, md, err := cur.conn.read(buf)
		switch {
		case err != nil && s.cur.Load() != cur:
			continue // Reopen moved to a new netdev and closed this socket
		case errors.Is(err, errUnlabelled):
			s.drop(ReasonMalformed)
			continue
		case err != nil:
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("flow sync receive stopped", "error", err)
			}
			return
		}
		s.handle(ctx, buf[:n], md, time.Now())
	}
}

// handle runs every receive check, cheapest first, and applies what passes.
// Only an authenticated datagram from an accepted peer reaches the flow
// table, the replay state or a rate limiter's state.
func (s *Syncer) handle(ctx context.Context, b []byte, md meta, now time.Time) {
	if reason := s.admit(md); reason != "" {
		s.drop(reason)
		return
	}
	m, err := Open(s.keys.Load(), b)
	switch {
	case errors.Is(err, ErrKeyID), errors.Is(err, ErrMAC):
		s.drop(ReasonAuth)
		return
	case err != nil:
		s.drop(ReasonMalformed)
		return
	case m.Sender != md.src:
		s.drop(ReasonSender)
		return
	}
	switch s.replay.Check(m, now) {
	case Stale:
		s.drop(ReasonStale)
		return
	case Replayed:
		s.drop(ReasonReplay)
		return
	}
	s.replay.Accept(m)
	if !s.limiter(md.src).AllowN(now, 1) {
		s.drop(ReasonRate)
		return
	}
	switch m.Kind {
	case KindFlows, KindBulk:
		s.received.Add(uint64(len(m.Entries)))
		for _, e := range m.Entries {
			s.apply(e)
		}
		if m.Kind == KindBulk && !s.isSynced() {
			s.bulk.part(md.src, now)
		}
	case KindBulkEnd:
		if s.isSynced() {
			return // another director's join: its dumps reach every director
		}
		s.bulk.end(md.src, m.Count, now)
		if r, done := s.bulk.result(); done {
			select {
			case s.joined <- r:
			default: // join has a result to act on already
			}
		}
	case KindBulkRequest:
		s.serveDump(ctx, m.Count)
	}
}

// admit is the checks on where a datagram came from, before any parsing.
func (s *Syncer) admit(md meta) string {
	n := s.cur.Load()
	switch {
	case md.ifindex != n.iface.Index:
		return ReasonInterface
	case md.src == n.src:
		return ReasonOwn
	case !s.isPeer(n, md.src):
		return ReasonNotPeer
	case md.hops != gtsmTTL:
		return ReasonTTL
	case md.dst != s.opts.Group.Addr():
		return ReasonNotGroup
	}
	return ""
}

func (s *Syncer) isPeer(n *netdev, a netip.Addr) bool {
	if len(s.opts.Peers) > 0 {
		return slices.Contains(s.opts.Peers, a)
	}
	for _, p := range n.onLink {
		if p.Contains(a) && a != p.Addr() && p.Bits() < a.BitLen() {
			return true
		}
	}
	return false
}

// limiter is a sender's token bucket; only authenticated peers get one, so
// the map stays as small as the set of peers.
func (s *Syncer) limiter(a netip.Addr) *rate.Limiter {
	l := s.limiters[a]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(s.opts.Rate), s.opts.Burst)
		s.limiters[a] = l
	}
	return l
}

// apply writes one entry into the flow table if Decide allows it. It tries
// the insert first: an absent flow (the common case, and every flow of a
// table dump to a fresh director) then costs one syscall, and the kernel's
// insert-if-absent cannot overwrite an entry the program wrote meanwhile.
func (s *Syncer) apply(e Entry) {
	svcID, id, reason := s.ids.backendID(s.dp, e)
	if reason != "" {
		s.drop(reason)
		return
	}
	for range 2 { // a second round only if the entry vanished (LRU) between the two calls
		added, err := s.dp.AddFlow(e.Flow, id)
		if err != nil {
			s.drop(ReasonWrite)
			return
		}
		if added {
			s.applied.Add(1)
			return
		}
		cur, have, err := s.dp.Flow(e.Flow)
		if err != nil {
			s.drop(ReasonWrite)
			return
		}
		switch Decide(have, cur == id, have && s.ids.usable(s.dp, cur, svcID)) {
		case Add:
			continue
		case Replace:
			if err := s.dp.SetFlow(e.Flow, id); err != nil {
				s.drop(ReasonWrite)
				return
			}
			s.applied.Add(1)
			s.replaced.Add(1)
		case Same:
			s.unchanged.Add(1)
		case KeepLocal:
			s.drop(ReasonKeptLocal)
		}
		return
	}
	s.drop(ReasonWrite)
}

// Decision is what a synced entry does to this director's entry for the
// same flow.
type Decision int

// Decisions.
const (
	Add       Decision = iota + 1 // no entry here: take the peer's
	Replace                       // the entry here names a backend that cannot carry it
	Same                          // the entry here already names that backend
	KeepLocal                     // the entry here names another usable backend: keep it
)

// Decide is the replacement rule. A synced entry fills a gap (no entry
// here), or replaces an entry whose backend cannot carry the flow any more
// (down, removed, or no longer the service's): the program would re-pick
// that flow on its next packet anyway, and the peer, which saw that packet,
// knows the pick. It never replaces an entry whose backend is usable with a
// different backend: that entry is what this director forwards the
// connection to (or forwarded it to while it was master, or learned first),
// and moving a live connection to another backend breaks it; a peer's
// different claim is a race (both picked while their tables differed), a
// peer with a stale view, or, key leaked, an attack. The cost: when the
// directors' health checks disagree for a moment (the peer saw a backend
// fail first and re-picked), this director keeps the old backend for that
// flow until its own check fails it too; then the next synced entry, or its
// own re-pick, which takes the same Maglev table, moves it.
func Decide(haveLocal, sameBackend, localUsable bool) Decision {
	switch {
	case !haveLocal:
		return Add
	case sameBackend:
		return Same
	case !localUsable:
		return Replace
	}
	return KeepLocal
}

// maxBulkAttempts bounds how often a joining director asks again after a
// dump lost datagrams.
const maxBulkAttempts = 4

// join asks the peers for their tables until a dump arrives, and marks the
// syncer synced when every peer that answered has finished (or BulkWait
// passed). A dump that lost datagrams (the receiver could not keep up: they
// overflowed its socket buffer) is asked for again, at a pace below what
// this director managed to take in; re-applying what arrived changes nothing.
func (s *Syncer) join(ctx context.Context) {
	if !s.waitReady(ctx) {
		return
	}
	wait := time.NewTimer(s.opts.BulkWait)
	defer wait.Stop()
	noAnswer := time.NewTimer(s.opts.AnswerWait)
	defer noAnswer.Stop()
	ask := time.NewTicker(time.Second)
	defer ask.Stop()
	pace := s.opts.BulkRate
	heard := false // a round ended (reset clears the round, not this)
	for attempt := 1; ; {
		if !s.bulk.answered() {
			if err := s.write(Message{Kind: KindBulkRequest, Count: uint32(pace)}); err != nil {
				s.log.Warn("flow sync: bulk request", "error", err)
				s.drop(ReasonSend)
			} else {
				s.bulkRequests.Add(1)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
			s.markSynced("no complete table dump within the wait: going on with what arrived")
			return
		case <-noAnswer.C:
			if !heard && !s.bulk.answered() {
				s.markSynced("no peer answered: no other director is up, nothing to learn")
				return
			}
		case r := <-s.joined:
			heard = true
			if r.lost == 0 {
				s.markSynced("table dumps received")
				return
			}
			s.bulkLost.Add(uint64(r.lost))
			if attempt == maxBulkAttempts {
				s.markSynced(fmt.Sprintf("dumps still lost datagrams after %d attempts: going on with what arrived", attempt))
				return
			}
			attempt++
			pace = max(min(pace/2, 0.8*r.rate), minBulkRate)
			s.log.Warn("flow sync: table dump lost datagrams; asking again, slower", "lost", r.lost, "received", r.got,
				"took_in_per_second", int(r.rate), "pace", int(pace))
			s.bulk.reset()
		case now := <-ask.C:
			// A dump whose end was lost never finishes: after a quiet
			// while it counts as a round that lost datagrams.
			if r, stalled := s.bulk.stalled(now, bulkIdle); stalled {
				select {
				case s.joined <- r:
				default:
				}
			}
		}
	}
}

// waitReady waits until Options.Ready holds, at most AnswerWait; false when
// ctx ended first.
func (s *Syncer) waitReady(ctx context.Context) bool {
	if s.opts.Ready == nil {
		return true
	}
	limit := time.NewTimer(s.opts.AnswerWait)
	defer limit.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for !s.opts.Ready() {
		select {
		case <-ctx.Done():
			return false
		case <-limit.C:
			s.log.Warn("flow sync: asking for the tables although backends are not programmed yet: entries naming them will be dropped",
				"waited", s.opts.AnswerWait)
			return true
		case <-poll.C:
		}
	}
	return true
}

// bulkIdle is how long a started dump may send nothing before the joiner
// takes it for lost.
const bulkIdle = 2 * time.Second

// minBulkRate is the slowest pace a joiner asks for (datagrams per second):
// 1M flows in 5 minutes.
const minBulkRate = 50

func (s *Syncer) isSynced() bool {
	select {
	case <-s.synced:
		return true
	default:
		return false
	}
}

func (s *Syncer) markSynced(why string) {
	s.syncOnce.Do(func() {
		close(s.synced)
		s.log.Info("flow sync: synced with peers", "why", why, "flows_applied", s.applied.Load())
	})
}

// serveDump answers a bulk request with the whole table, paced, unless a
// dump runs or ran within BulkCooldown: a request costs the responder at
// most one table walk per cooldown however often it comes.
func (s *Syncer) serveDump(ctx context.Context, asked uint32) {
	last := s.lastDump.Load()
	if time.Since(time.Unix(0, last)) < s.opts.BulkCooldown || !s.dumping.CompareAndSwap(false, true) {
		s.drop(ReasonBulkBusy)
		return
	}
	s.lastDump.Store(time.Now().UnixNano())
	s.bulkDumps.Add(1)
	s.dumps.Add(1)
	go func() {
		defer s.dumps.Done()
		defer s.dumping.Store(false)
		pace := s.opts.BulkRate
		if asked > 0 {
			pace = min(pace, max(float64(asked), minBulkRate))
		}
		n, err := s.dump(ctx, pace)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("flow sync: table dump", "error", err, "flows", n)
			return
		}
		s.log.Info("flow sync: sent table dump", "flows", n, "pace", int(pace))
	}()
}

// dump sends the table in KindBulk datagrams, then KindBulkEnd. It sends at
// most the table's capacity: a table changing under the walk cannot make it
// loop.
func (s *Syncer) dump(ctx context.Context, perSecond float64) (int, error) {
	pace := rate.NewLimiter(rate.Limit(perSecond), 16)
	datagrams := uint32(0)
	limit := int(s.dp.MaxFlows())
	n, queued := 0, 0
	var werr error
	q := batches{sender6: s.opts.Group.Addr().Is6(), flush: func(batch []Entry) bool {
		if werr = pace.Wait(ctx); werr != nil {
			return false
		}
		if werr = s.write(Message{Kind: KindBulk, Entries: batch}); werr != nil {
			s.drop(ReasonSend)
			return false
		}
		n += len(batch)
		s.bulkFlows.Add(uint64(len(batch))) // counted before the end goes out
		datagrams++
		return true
	}}
	err := s.dp.Flows(func(k loader.FlowKey, id uint32) bool {
		if queued >= limit {
			return false
		}
		ip, ok := s.ids.backendIP(s.dp, id)
		if !ok {
			return true
		}
		queued++
		return q.add(Entry{Flow: k, Backend: ip}) || werr == nil
	})
	if err == nil && werr == nil && q.flushAll() {
		werr = s.write(Message{Kind: KindBulkEnd, Count: datagrams})
	}
	return n, errors.Join(err, werr)
}

// bulkJoin follows the dumps a joining director receives: it is done when
// at least one dump ended and every peer that started one has ended it.
type bulkJoin struct {
	mu    sync.Mutex
	peers map[netip.Addr]*dumpSeen
}

type dumpSeen struct {
	got, total  uint32
	ended       bool
	first, last time.Time
}

// joinResult is what the dumps of one round brought.
type joinResult struct {
	got, lost uint32  // datagrams
	rate      float64 // datagrams per second taken in
}

func (b *bulkJoin) peer(from netip.Addr, now time.Time) *dumpSeen {
	if b.peers == nil {
		b.peers = map[netip.Addr]*dumpSeen{}
	}
	d := b.peers[from]
	if d == nil {
		d = &dumpSeen{first: now}
		b.peers[from] = d
	}
	return d
}

func (b *bulkJoin) part(from netip.Addr, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.peer(from, now)
	if !d.ended {
		d.got++
		d.last = now
	}
}

// end records a finished dump of total datagrams.
func (b *bulkJoin) end(from netip.Addr, total uint32, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.peer(from, now)
	if !d.ended {
		d.ended, d.total, d.last = true, total, now
	}
}

// result is the round's outcome once every started dump has ended (done).
func (b *bulkJoin) result() (r joinResult, done bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var took time.Duration
	for _, d := range b.peers {
		if !d.ended {
			return joinResult{}, false
		}
		r.got += d.got
		if d.total > d.got {
			r.lost += d.total - d.got
		}
		took = max(took, d.last.Sub(d.first))
	}
	if len(b.peers) == 0 {
		return joinResult{}, false
	}
	if took > 0 {
		r.rate = float64(r.got) / took.Seconds()
	}
	return r, true
}

// stalled is a round's outcome when a dump started but nothing of any came
// for idle: its end, at least, was lost.
func (b *bulkJoin) stalled(now time.Time, idle time.Duration) (r joinResult, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.peers) == 0 {
		return joinResult{}, false
	}
	var first, last time.Time
	for _, d := range b.peers {
		r.got += d.got
		if d.ended && d.total > d.got {
			r.lost += d.total - d.got
		}
		if !d.ended {
			r.lost++ // its end, at least
		}
		if first.IsZero() || d.first.Before(first) {
			first = d.first
		}
		if d.last.After(last) {
			last = d.last
		}
	}
	if now.Sub(last) < idle || r.lost == 0 {
		return joinResult{}, false
	}
	if took := last.Sub(first); took > 0 {
		r.rate = float64(r.got) / took.Seconds()
	}
	return r, true
}

func (b *bulkJoin) answered() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.peers) > 0
}

// reset forgets a round, before asking again.
func (b *bulkJoin) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.peers = nil
}
