package config

import (
	"fmt"

	"xlb/control/vrrp"
)

// vrrpScript reads a top-level vrrp_script block (keepalived.conf(5);
// vrrp_parser.c vrrp_vscript_*_handler). The script string is split into an
// argv as notify scripts are.
func (k *kreader) vrrpScript(s *stmt) {
	sc := vrrp.Script{Name: s.args[0].text}
	ctx := "vrrp_script " + sc.Name
	ok := true // false once a script or weight line was refused, so no second error
	for _, c := range s.block {
		switch c.key.text {
		case "script":
			if sc.Command = k.scriptArgv(c, ctx, "", ""); sc.Command == nil {
				ok = false
			}
			continue
		case "weight":
			w, rev, good := k.fileWeight(c, ctx)
			if !good {
				ok = false
				continue
			}
			if w < -253 || w > 253 {
				// vrrp_vscript_weight_handler: "must be in [-253, 253]".
				k.d.err(c.line(), ctx, c.key.text, ErrInvalid, "%d is out of range -253..253", w)
				ok = false
				continue
			}
			if rev {
				k.d.err(c.line(), ctx, c.key.text, ErrUnsupported, "reverse is not supported: write the opposite weight, or invert the script's exit status")
				ok = false
				continue
			}
			sc.Weight = w
			continue
		case "user":
			// vrrp_vscript_user_handler: USER [GROUP]; without it the
			// script runs as global_defs script_user.
			if usr, group, good := k.userGroup(c, ctx); good {
				sc.User, sc.Group = usr, group
			}
			continue
		}
		r := rowFor(scriptFields, c.key.text)
		if r == nil {
			k.other(c, ctx, nil, false)
			continue
		}
		readKA(k, r, c, ctx, "vrrp_script."+sc.Name, &sc)
	}
	if len(sc.Command) == 0 {
		if ok {
			// vrrp_vscript_end_handler drops a script without one.
			k.d.err(s.line(), ctx, "script", ErrInvalid, "required")
		}
		return
	}
	if k.scripts == nil {
		k.scripts = map[string]vrrp.Script{}
	}
	k.scripts[sc.Name] = sc
}

// trackScripts reads an instance's track_script block: NAME [weight W]
// (alloc_track_script in vrrp_track.c). An undefined or repeated script is
// ignored with a warning, as keepalived does; the instance's weight
// overrides the script's.
func (k *kreader) trackScripts(s *stmt, v *VRRPInstance, path, ctx string) {
	for _, c := range s.block {
		if !k.noBlock(c, ctx) {
			continue
		}
		sc, found := k.scripts[c.key.text]
		if !found {
			k.d.warn(c.line(), ctx, c.key.text, "ignored: no vrrp_script %s is defined above, as keepalived ignores it", c.key.text)
			continue
		}
		if v.trackScript(sc.Name) {
			k.d.warn(c.line(), ctx, c.key.text, "ignored: duplicate track_script, as keepalived ignores it")
			continue
		}
		if len(c.args) > 0 {
			if len(c.args) != 2 || c.args[0].text != "weight" {
				k.d.err(c.line(), ctx, c.key.text, ErrSyntax, "wants NAME [weight W]")
				continue
			}
			w, err := intIn(-253, 253)(c.args[1].text)
			if err != nil {
				k.d.err(c.line(), ctx, c.key.text, ErrInvalid, "weight: %v", err)
				continue
			}
			sc.Weight = int(w)
		}
		k.src.object(fmt.Sprintf("%s.track_scripts[%d]", path, len(v.TrackScripts)), c.line(), ctx)
		v.TrackScripts = append(v.TrackScripts, sc)
	}
}

// trackScript reports whether the instance already tracks the named script.
func (v *VRRPInstance) trackScript(name string) bool {
	for _, s := range v.TrackScripts {
		if s.Name == name {
			return true
		}
	}
	return false
}
