package loader

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// FlowEvent is a flow the program recorded: a new flow, or one re-picked
// off a backend that failed.
type FlowEvent struct {
	Flow      FlowKey
	BackendID uint32
}

// FlowEventReader reads the program's flow events (see Options.FlowEvents).
type FlowEventReader struct {
	r *ringbuf.Reader
}

// ErrReaderClosed is returned by Read after Close.
var ErrReaderClosed = errors.New("flow event reader closed")

// FlowEventReader opens the flow-event ring. Only one reader should exist.
func (d *Dataplane) FlowEventReader() (*FlowEventReader, error) {
	r, err := ringbuf.NewReader(d.objs.XlbFlowEvents)
	if err != nil {
		return nil, fmt.Errorf("open flow events: %w", err)
	}
	return &FlowEventReader{r: r}, nil
}

// Read waits up to timeout for the next event; os.ErrDeadlineExceeded when
// none came.
func (f *FlowEventReader) Read(timeout time.Duration) (FlowEvent, error) {
	f.r.SetDeadline(time.Now().Add(timeout))
	rec, err := f.r.Read()
	if err != nil {
		if errors.Is(err, ringbuf.ErrClosed) {
			return FlowEvent{}, ErrReaderClosed
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return FlowEvent{}, err
		}
		return FlowEvent{}, fmt.Errorf("read flow event: %w", err)
	}
	var ev xlbXlbFlowEvent
	if size := int(unsafe.Sizeof(ev)); len(rec.RawSample) < size {
		return FlowEvent{}, fmt.Errorf("flow event of %d bytes, want %d", len(rec.RawSample), size)
	}
	// The record is the C struct as the program wrote it; bpf2go's twin has
	// the same layout (TestStructSizes).
	ev = *(*xlbXlbFlowEvent)(unsafe.Pointer(&rec.RawSample[0]))
	return FlowEvent{Flow: flowKeyOf(ev.Saddr, ev.Daddr, ev.Family, ev.Sport, ev.Dport, ev.Proto), BackendID: ev.BackendId}, nil
}

// Close stops the reader; a blocked Read returns ErrReaderClosed.
func (f *FlowEventReader) Close() error { return f.r.Close() }

// FlowEventsLost counts events dropped because the ring was full.
func (d *Dataplane) FlowEventsLost() (uint64, error) {
	c, err := sumPerCPU(d.objs.XlbFlowEventsLost, 0)
	return c.Packets, err
}

// SetFlow records a flow's backend, as the program would: flow sync uses it
// to take over the other director's connections.
func (d *Dataplane) SetFlow(k FlowKey, backendID uint32) error {
	rk, err := k.raw()
	if err != nil {
		return err
	}
	if err := d.flowTable(rk.v6).Update(rk.key(), &xlbXlbFlow{BackendId: backendID}, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write flow: %w", err)
	}
	return nil
}

// AddFlow records a flow's backend only if the table has no entry for it
// (false when it has): flow sync must not overwrite an entry the program
// wrote between its look-up and its write.
func (d *Dataplane) AddFlow(k FlowKey, backendID uint32) (bool, error) {
	rk, err := k.raw()
	if err != nil {
		return false, err
	}
	err = d.flowTable(rk.v6).Update(rk.key(), &xlbXlbFlow{BackendId: backendID}, ebpf.UpdateNoExist)
	if errors.Is(err, ebpf.ErrKeyExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("add flow: %w", err)
	}
	return true, nil
}
