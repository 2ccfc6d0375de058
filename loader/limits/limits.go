// Package limits holds what the data plane can hold, for code that must know
// it without loading the BPF object: config validation refuses a config that
// does not fit. The values follow bpf/xlb_consts.h; loader's tests check them
// against the compiled object, so a rebuild with other sizes that forgets
// them fails the tests.
package limits

const (
	// MaxServices is the number of services: XLB_MAX_SERVICES - 1, since
	// service id 0 is never allocated.
	MaxServices = 1023
	// MaxBackends is the number of backends, counted per service (a real
	// server in two services takes two): XLB_MAX_BACKENDS - 1.
	MaxBackends = 4095
	// HowToRaise says how to build a data plane that holds more.
	HowToRaise = "raise XLB_MAX_SERVICES / XLB_MAX_BACKENDS in bpf/xlb_consts.h and in loader/limits, then make generate and rebuild"
)
