package flowsync

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"

	"xlb/internal/secretfile"
)

// MinKeyLen is the shortest key accepted: 128 bits even when written as text.
const MinKeyLen = 16

// Key is one flow-sync key. Its id is derived from the key itself, so
// directors agree on it without configuring one, and a receiver knows which
// of its two keys a datagram claims without trying both.
type Key struct {
	ID   uint8
	Path string
	pool sync.Pool // of hash.Hash: an HMAC costs two SHA-256 setups to make
}

// NewKey makes a key from secret bytes.
func NewKey(secret []byte, path string) (*Key, error) {
	if len(secret) < MinKeyLen {
		return nil, fmt.Errorf("flow sync key %s: %d bytes, want at least %d (e.g. openssl rand -hex 32)", path, len(secret), MinKeyLen)
	}
	id := sha256.Sum256(append([]byte("xlb flow sync key id\x00"), secret...))
	s := append([]byte(nil), secret...)
	k := &Key{ID: id[0], Path: path}
	k.pool.New = func() any { return macOf(s) }
	return k, nil
}

// ReadKey reads a key file: its content without surrounding white space.
// The file must belong to root (or to the user xlbd runs as) and must not be
// readable or writable by group or others: whoever can read it can move any
// connection of the segment to another backend.
func ReadKey(path string) (*Key, error) {
	b, err := secretfile.Read("flow sync key", path)
	if err != nil {
		return nil, err
	}
	return NewKey(b, path)
}

func (k *Key) sum(body []byte) []byte {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(body)
	out := h.Sum(body)
	k.pool.Put(h)
	return out
}

func (k *Key) verify(body, mac []byte) bool {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(body)
	var sum [sha256.Size]byte
	ok := hmac.Equal(h.Sum(sum[:0]), mac)
	k.pool.Put(h)
	return ok
}

// Keyring is the keys a director holds: it sends with the first and accepts
// either. Rotation without losing flows: give every director the new key as
// the second, then make it the first on each, then drop the old one; at every
// step each director accepts what every other sends.
type Keyring struct {
	keys []*Key
}

// ErrNoKey is returned when flow sync has no key: it then stays off.
var ErrNoKey = errors.New("flow sync needs a key: without one it stays off, so nothing on the network can change the flow table")

// NewKeyring holds one or two keys, the sending key first.
func NewKeyring(keys ...*Key) (*Keyring, error) {
	switch {
	case len(keys) == 0:
		return nil, ErrNoKey
	case len(keys) > 2:
		return nil, fmt.Errorf("flow sync: %d keys, want one, or two while rotating", len(keys))
	case len(keys) == 2 && keys[0].ID == keys[1].ID:
		return nil, fmt.Errorf("flow sync keys %s and %s: same key id %d (the same key twice?)", keys[0].Path, keys[1].Path, keys[0].ID)
	}
	return &Keyring{keys: keys}, nil
}

// LoadKeyring reads one or two key files, the sending key first.
func LoadKeyring(paths []string) (*Keyring, error) {
	var keys []*Key
	for _, p := range paths {
		k, err := ReadKey(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return NewKeyring(keys...)
}

// Send is the key datagrams are sealed with.
func (r *Keyring) Send() *Key { return r.keys[0] }

// IDs are the key ids accepted, the sending key's first. They are ints, not
// a []uint8 that slog and encoding/json would print as bytes and base64.
func (r *Keyring) IDs() []int {
	var ids []int
	for _, k := range r.keys {
		ids = append(ids, int(k.ID))
	}
	return ids
}

func (r *Keyring) byID(id uint8) *Key {
	for _, k := range r.keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}
