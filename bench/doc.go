// Package bench measures xlb side by side with baselines on this machine: the
// lab benchmarks (packet rate on veth, MySQL through the VIP, failure
// detection) live in its test files and run only under `go test -bench`; the
// package itself turns `go test -bench` output into the markdown report and
// chart that cmd/xlbbench writes (see `make bench`).
package bench
