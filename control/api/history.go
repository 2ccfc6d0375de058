package api

import "time"

// Event is one state change the daemon saw, with why: a backend going down
// (the check's reason), a VRRP takeover, a reload refused.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`    // EventBackend, EventVRRP, EventConfig
	Subject string    `json:"subject"` // "192.168.1.30:3306/tcp 192.168.1.10", a VRRP instance, the config file
	From    string    `json:"from,omitempty"`
	To      string    `json:"to"`
	Reason  string    `json:"reason,omitempty"`
}

// Event kinds.
const (
	EventBackend = "backend"
	EventVRRP    = "vrrp"
	EventConfig  = "config"
)

// Plane is one attached interface's flow table.
type Plane struct {
	Interface string `json:"interface"`
	Flows     int    `json:"flows"` // counted at most every few seconds
	MaxFlows  uint32 `json:"max_flows"`
}

// Traffic is a service's or backend's recent rate, oldest sample first: one
// sample per Interval, the last one ending at End.
type Traffic struct {
	Interval time.Duration `json:"interval_ns"`
	End      time.Time     `json:"end"`
	Packets  []float64     `json:"packets_per_second"`
	Bytes    []float64     `json:"bytes_per_second"`
}
