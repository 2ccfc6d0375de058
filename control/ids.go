package control

import (
	"fmt"
	"maps"

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
	id, err := allocate(a.services, k, a.maxService)
	if err != nil {
		return 0, fmt.Errorf("service %s: %w", k, err)
	}
	return id, nil
}

func (a *idAllocator) backend(r BackendRef) (uint32, error) {
	id, err := allocate(a.backends, r, a.maxBackend)
	if err != nil {
		return 0, fmt.Errorf("backend %s of %s: %w", r.IP, r.Service, err)
	}
	return id, nil
}

// allocate is k's id in ids, or the lowest one (from 1 to max) no other key
// holds, given to k.
func allocate[K comparable](ids map[K]uint32, k K, max uint32) (uint32, error) {
	if id, ok := ids[k]; ok {
		return id, nil
	}
	used := map[uint32]bool{}
	for _, id := range ids {
		used[id] = true
	}
	for id := uint32(1); id <= max; id++ {
		if !used[id] {
			ids[k] = id
			return id, nil
		}
	}
	return 0, fmt.Errorf("all %d ids in use", max)
}

// release forgets ids of services and backends no longer configured.
func (a *idAllocator) release(services map[loader.ServiceKey]bool, backends map[BackendRef]bool) {
	maps.DeleteFunc(a.services, func(k loader.ServiceKey, _ uint32) bool { return !services[k] })
	maps.DeleteFunc(a.backends, func(r BackendRef, _ uint32) bool { return !backends[r] })
}
