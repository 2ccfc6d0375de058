package health

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"xlb/control/config"
)

func init() {
	Register(config.CheckFile, func(r config.RealServer, _ string, _ *slog.Logger) (Checker, error) {
		f := r.Check.File
		return NewFile(FileConfig{Path: f.Path, Weight: f.Weight, Reverse: f.Reverse, BaseWeight: int(r.Weight)})
	})
}

// FileConfig is keepalived's FILE_CHECK: a track_file applied to a real
// server. The file holds a number (keepalived reads its first 127 bytes with
// strtol base 0: decimal, 0x hex or 0 octal, leading spaces and a sign
// allowed, anything after the number ignored); a missing or empty file, or
// text without a number, reads as 0, and a number beyond 32 bits is ignored
// (the previous value stays), as in trackers/track_file.c
// process_track_file.
//
// With Weight 0 any non-zero value is down (with Reverse, zero is down).
// Otherwise value x Weight (x -1 with Reverse) is added to BaseWeight, the
// result floored at 0 (drained, still up) and capped at MaxWeight; only a
// product at or below -2^31 (keepalived's IPVS_WEIGHT_FAULT) is down
// (check_file.c, track_file.c process_update_checker_track_file_status).
//
// The file's directory is watched with inotify, as keepalived watches it, so
// a change is seen at once rather than at the next interval.
type FileConfig struct {
	Path       string // [track_file's file]
	Weight     int    // [weight] of FILE_CHECK, else of the track_file (keepalived's default 1)
	Reverse    bool   // [weight W reverse]
	BaseWeight int    // the real server's configured weight
	MaxWeight  int    // cap on the resulting weight; default 65535
}

// ErrFileFault: a FILE_CHECK's file holds a value that means down.
var ErrFileFault = errors.New("tracked file reports a fault")

// FileChecker implements FileConfig.
type FileChecker struct {
	cfg FileConfig

	mu   sync.Mutex
	last int64 // the last valid value read
}

// NewFile validates cfg.
func NewFile(cfg FileConfig) (*FileChecker, error) {
	if cfg.Path == "" {
		return nil, errors.New("file check: no file")
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("file check: %w", err)
	}
	cfg.Path = abs
	if cfg.MaxWeight == 0 {
		cfg.MaxWeight = math.MaxUint16
	}
	if cfg.BaseWeight < 0 || cfg.BaseWeight > cfg.MaxWeight {
		return nil, fmt.Errorf("file check: base weight %d outside 0-%d", cfg.BaseWeight, cfg.MaxWeight)
	}
	if st, err := os.Stat(filepath.Dir(cfg.Path)); err != nil || !st.IsDir() {
		// keepalived: "Track file directory for %s does not exist".
		return nil, fmt.Errorf("file check: directory of %s does not exist", cfg.Path)
	}
	return &FileChecker{cfg: cfg}, nil
}

// trackFileRead is keepalived's read size (a 128-byte buffer with room for the NUL).
const trackFileRead = 127

// Check reads the file and judges its value.
func (c *FileChecker) Check(context.Context) Result {
	value, note, err := c.read()
	if err != nil {
		return failResult(fmt.Errorf("%w: %w", ErrConnect, err))
	}
	c.mu.Lock()
	if note == "" {
		c.last = value
	} else {
		value = c.last
	}
	c.mu.Unlock()

	what := fmt.Sprintf("%s reads %d%s", c.cfg.Path, value, note)
	mult := int64(1)
	if c.cfg.Reverse {
		mult = -1
	}
	if c.cfg.Weight == 0 {
		if (value != 0) == (mult == 1) {
			return failResult(fmt.Errorf("%w: %s (weight 0%s)", ErrFileFault, what, map[bool]string{true: " reverse"}[c.cfg.Reverse]))
		}
		return okResult(what)
	}
	delta := value * int64(c.cfg.Weight) * mult
	if delta <= math.MinInt32 {
		return failResult(fmt.Errorf("%w: %s x weight %d", ErrFileFault, what, c.cfg.Weight*int(mult)))
	}
	w := min(max(int64(c.cfg.BaseWeight)+delta, 0), int64(c.cfg.MaxWeight))
	r := okResult(fmt.Sprintf("%s: weight %d%+d = %d", what, c.cfg.BaseWeight, delta, w))
	r.Weight, r.WeightSet = int(w), true
	return r
}

// read returns the file's value as keepalived reads it; note is non-empty
// when the value is to be ignored.
func (c *FileChecker) read() (int64, string, error) {
	f, err := os.Open(c.cfg.Path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		// keepalived reads 0 from a file it cannot open; say why instead of
		// silently passing a file the daemon is not allowed to read.
		return 0, "", fmt.Errorf("read %s: %w", c.cfg.Path, err)
	}
	defer f.Close()
	buf := make([]byte, trackFileRead)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, "", fmt.Errorf("read %s: %w", c.cfg.Path, err)
	}
	v, ok := strtol(string(buf[:n]))
	if !ok || v < math.MinInt32 || v > math.MaxInt32+1 {
		return 0, fmt.Sprintf(" (not a 32-bit number: %q ignored, previous value kept)", printable(strings.TrimSpace(string(buf[:n])), 40)), nil
	}
	return v, "", nil
}

// strtol is C's strtol(s, NULL, 0): the longest number at the start of s
// after white space; 0 when there is none; ok false on overflow of 64 bits.
func strtol(s string) (int64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isDigit(s[2], 16):
		base, s = 16, s[2:]
	case len(s) > 0 && s[0] == '0':
		base = 8
	}
	end := 0
	for end < len(s) && isDigit(s[end], base) {
		end++
	}
	if end == 0 {
		return 0, true
	}
	u, err := strconv.ParseUint(s[:end], base, 64)
	if err != nil || u > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

func isDigit(c byte, base int) bool {
	switch {
	case c >= '0' && c <= '9':
		return int(c-'0') < base
	case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		return base == 16
	}
	return false
}

// Watch reports writes, renames and deletions of the file through inotify on
// its directory (the events keepalived's process_inotify acts on). If inotify
// cannot be set up the channel is closed at once and the Monitor polls.
func (c *FileChecker) Watch(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		close(out)
		return out
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(c.cfg.Path), unix.IN_CLOSE_WRITE|unix.IN_DELETE|unix.IN_MOVE); err != nil {
		unix.Close(fd)
		close(out)
		return out
	}
	// A non-blocking fd in an os.File is served by the runtime poller, so
	// closing the file ends a pending Read.
	f := os.NewFile(uintptr(fd), "inotify")
	stop := context.AfterFunc(ctx, func() { f.Close() })
	name := filepath.Base(c.cfg.Path)
	go func() {
		defer close(out)
		defer stop()
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := f.Read(buf)
			if err != nil {
				f.Close()
				return
			}
			if inotifyNames(buf[:n], name) {
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

// inotifyNames reports whether the events in b name the file name.
func inotifyNames(b []byte, name string) bool {
	// struct inotify_event: wd, mask, cookie, len (4 bytes each), name.
	for len(b) >= unix.SizeofInotifyEvent {
		mask := binary.NativeEndian.Uint32(b[4:])
		end := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(b[12:]))
		if end > len(b) {
			return false
		}
		got := strings.TrimRight(string(b[unix.SizeofInotifyEvent:end]), "\x00")
		if got == name && mask&unix.IN_ISDIR == 0 {
			return true
		}
		b = b[end:]
	}
	return false
}
