// Package hashseed reads the per-deployment flow hash seed from its file
// (xlbd run --hash-seed-file, or the config's hash_seed_file).
package hashseed

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"xlb/internal/secretfile"
)

// MinLen is the shortest seed file content accepted: 8 characters (32 bits
// as hex) so a seed is not guessable by trying words.
const MinLen = 8

// Read reads a seed file and hashes its content (without surrounding white
// space) to the data plane's 32-bit seed. Hashing, rather than parsing hex,
// lets any text of enough entropy serve, and both directors derive the same
// seed from the same file. The file must be 0600 and root's, as the
// flow-sync key: whoever knows the seed can aim connections at one backend.
func Read(path string) (uint32, error) {
	b, err := secretfile.Read("flow hash seed", path)
	if err != nil {
		return 0, err
	}
	if len(b) < MinLen {
		return 0, fmt.Errorf("flow hash seed %s: %d characters, want at least %d (e.g. od -An -tx1 -N16 /dev/urandom)", path, len(b), MinLen)
	}
	sum := sha256.Sum256(append([]byte("xlb flow hash seed\x00"), b...))
	seed := binary.BigEndian.Uint32(sum[:4])
	if seed == 0 {
		// 0 means "the public default" to the loader; one seed in 2^32
		// moves to 1 instead.
		seed = 1
	}
	return seed, nil
}
