package main

// hashSeedUsage is --hash-seed-file's help; README's flood section says the same.
const hashSeedUsage = "flow hash seed file (mode 0600, owner root): any text of 8 or more characters, e.g. `od -An -tx1 -N16 /dev/urandom`, hashed to the 32-bit seed. " +
	"Both directors must use the same file content, or a failover moves connections to other backends. Without one the config's hash_seed_file, else the public default seed is used (with a warning): anyone can aim their connections at one backend"
