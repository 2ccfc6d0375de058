package vrrp

import (
	"os/user"
	"strconv"
	"testing"

	"xlb/test/testutil"
)

// A vrrp_script's user runs it (keepalived's "user USER"), not xlbd: the
// script succeeds only when its uid is nobody's.
func TestTrackScriptRunsAsItsUser(t *testing.T) {
	testutil.RequirePriv(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	check := []string{"/bin/sh", "-c", "test \"$(id -u)\" = " + strconv.Quote(nobody.Uid)}
	for _, tc := range []struct {
		user string
		want bool
	}{{"nobody", true}, {"", false}} {
		err := execRunner{}.RunScript(t.Context(), Script{Name: "u", Command: check, User: tc.user})
		if ok := err == nil; ok != tc.want {
			t.Errorf("user %q: script succeeded = %v (%v), want %v", tc.user, err == nil, err, tc.want)
		}
	}
}
