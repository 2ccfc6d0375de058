package control

import (
	"fmt"

	"xlb/loader"
)

// idAllocator hands out stable ids: a service or backend keeps its id for as
// long as it is configured, across reloads and (through Adopt) restarts,
// because flows in the flow table refer to backends by id.
type idAllocator struct {
	services map[loader.ServiceKey]uint32
	backends map[BackendRef]uint32
	// Largest ids the data plane's maps hold; 0 is never used.
	maxService, maxBackend uint32
}

func newIDAllocator(maxService, maxBackend uint32) *idAllocator {
	return &idAllocator{services: map[loader.ServiceKey]uint32{}, backends: map[BackendRef]uint32{},
		maxService: maxService, maxBackend: maxBackend}
}

func (a *idAllocator) adoptService(k loader.ServiceKey, id uint32) { a.services[k] = id }
func (a *idAllocator) adoptBackend(r BackendRef, id uint32)        { a.backends[r] = id }

func (a *idAllocator) service(k loader.ServiceKey) (uint32, error) {
	if id, ok := a.services[k]; ok {
		return id, nil
	}
	used := map[uint32]bool{}
	for _, id := range a.services {
		used[id] = true
	}
	id, err := lowestFree(used, a.maxService)
	if err != nil {
		return 0, fmt.Errorf("service %s: %w", k, err)
	}
	a.services[k] = id
	return id, nil
}

func (a *idAllocator) backend(r BackendRef) (uint32, error) {
	if id, ok := a.backends[r]; ok {
		return id, nil
	}
	used := map[uint32]bool{}
	for _, id := range a.backends {
		used[id] = true
	}
	id, err := lowestFree(used, a.maxBackend)
	if err != nil {
		return 0, fmt.Errorf("backend %s of %s: %w", r.IP, r.Service, err)
	}
	a.backends[r] = id
	return id, nil
}

// release forgets ids of services and backends no longer configured.
func (a *idAllocator) release(services map[loader.ServiceKey]bool, backends map[BackendRef]bool) {
	for k := range a.services {
		if !services[k] {
			delete(a.services, k)
		}
	}
	for r := range a.backends {
		if !backends[r] {
			delete(a.backends, r)
		}
	}
}

func lowestFree(used map[uint32]bool, max uint32) (uint32, error) {
	for id := uint32(1); id <= max; id++ {
		if !used[id] {
			return id, nil
		}
	}
	return 0, fmt.Errorf("all %d ids in use", max)
}
