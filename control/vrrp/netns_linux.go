package vrrp

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNamespace runs fn on a thread of its own switched into ns: sockets
// opened by fn live there. The instance's goroutines run on any thread, in
// the daemon's namespace; a transport opened in another (tests, a director
// in a namespace) must reopen its sockets where they were.
func inNamespace(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- fn()
		// A thread that cannot go back ends with this goroutine (it stays
		// locked), so no other goroutine runs in the wrong namespace.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}
