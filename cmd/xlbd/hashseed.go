package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"xlb/internal/secretfile"
)

// minSeedLen is the shortest seed file content accepted: 8 characters (32
// bits as hex) so a seed is not guessable by trying words.
const minSeedLen = 8

// hashSeedUsage is --hash-seed-file's help; README's flood section says the same.
const hashSeedUsage = "flow hash seed file (mode 0600, owner root): any text of 8 or more characters, e.g. `od -An -tx1 -N16 /dev/urandom`, hashed to the 32-bit seed. " +
	"Both directors must use the same file content, or a failover moves connections to other backends. Without one the public default seed is used (with a warning): anyone can aim their connections at one backend"

// readHashSeed reads a seed file and hashes its content (without surrounding
// white space) to the data plane's 32-bit seed. Hashing, rather than parsing
// hex, lets any text of enough entropy serve, and both directors derive the
// same seed from the same file.
func readHashSeed(path string) (uint32, error) {
	b, err := secretfile.Read("flow hash seed", path)
	if err != nil {
		return 0, err
	}
	if len(b) < minSeedLen {
		return 0, fmt.Errorf("flow hash seed %s: %d characters, want at least %d (e.g. od -An -tx1 -N16 /dev/urandom)", path, len(b), minSeedLen)
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
