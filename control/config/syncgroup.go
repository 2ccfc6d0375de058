package config

import (
	"fmt"
	"slices"

	"xlb/control/vrrp"
)

// groupTracking is what a vrrp_sync_group tracks for all its members; it is
// added to each member once every instance has been read.
type groupTracking struct {
	group  int // index in Config.SyncGroups
	line   pos
	ifaces []string
	// scripts, each with the position of its line.
	scripts     []vrrp.Script
	scriptLines []pos
	// weights: sync_group_tracking_weight (or the deprecated
	// global_tracking): the members' own weighted tracking is kept.
	weights bool
}

// syncGroup reads a vrrp_sync_group block (vrrp_parser.c
// vrrp_sync_group_handler and the keywords installed after it).
func (k *kreader) syncGroup(s *stmt) {
	g := vrrp.SyncGroupConfig{Name: s.args[0].text}
	ctx := "vrrp_sync_group " + g.Name
	for _, other := range k.cfg.SyncGroups {
		if other.Name == g.Name {
			// vrrp_sync_group_handler: "vrrp sync group %s already defined".
			k.d.err(s.line(), ctx, "", ErrInvalid, "vrrp sync group %s is already defined", g.Name)
			return
		}
	}
	path := fmt.Sprintf("sync_groups[%d]", len(k.cfg.SyncGroups))
	k.src.object(path, s.line(), ctx)
	tr := groupTracking{group: len(k.cfg.SyncGroups), line: s.line()}
	groupSeen := false
	for _, c := range s.block {
		switch c.key.text {
		case "group":
			if !k.wantBlock(c, ctx) || !k.wantArgs(c, ctx, 0, "") {
				continue
			}
			if groupSeen {
				k.d.err(c.line(), ctx, c.key.text, ErrInvalid, "Group list already specified for sync group %s", g.Name)
				continue
			}
			groupSeen = true
			k.src.field(path, "members", c.line(), c.key.text)
			for _, m := range c.block {
				if k.noBlock(m, ctx+": group") {
					g.Members = append(g.Members, words(m)...)
				}
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			*g.Slot(c.key.text) = k.script(c, ctx, path, c.key.text)
		case "track_interface":
			if k.wantBlock(c, ctx) && k.wantArgs(c, ctx, 0, "") {
				var scratch VRRPInstance
				k.trackInterfaces(c, &scratch, path, ctx+": track_interface")
				tr.ifaces = append(tr.ifaces, scratch.TrackInterfaces...)
			}
		case "track_script":
			if k.wantBlock(c, ctx) && k.wantArgs(c, ctx, 0, "") {
				var scratch VRRPInstance
				k.trackScripts(c, &scratch, path, ctx+": track_script")
				for i, sc := range scratch.TrackScripts {
					p, _, _ := k.src.locate(fmt.Sprintf("%s.track_scripts[%d]", path, i), "")
					tr.scripts = append(tr.scripts, sc)
					tr.scriptLines = append(tr.scriptLines, p)
				}
			}
		case "sync_group_tracking_weight":
			if k.noBlock(c, ctx) {
				tr.weights = true
			}
		case "global_tracking":
			if k.noBlock(c, ctx) {
				k.d.warn(c.line(), ctx, c.key.text, "global_tracking is deprecated. Use track_interface/script/file on the sync group (as keepalived: it means sync_group_tracking_weight)")
				tr.weights = true
			}
		default:
			k.other(c, ctx, ignoredSyncGroup, false)
		}
	}
	if !groupSeen || len(g.Members) == 0 {
		// vrrp_sync_group_end_handler removes a group without members.
		k.d.warn(s.line(), ctx, "group", "Sync group %s has no members - removing (as keepalived)", g.Name)
		return
	}
	k.cfg.SyncGroups = append(k.cfg.SyncGroups, g)
	k.groupTracks = append(k.groupTracks, tr)
}

var ignoredSyncGroup = map[string]disposition{
	"smtp_alert":              warnOnly("ignored: xlb sends no mail; use the group's notify scripts"),
	"notify_priority_changes": warnOnly("ignored: xlb has no notify FIFO"),
	"track_file":              fatal("not supported: use a vrrp_script that reads the file"),
	"track_process":           fatal("not supported: use a vrrp_script that checks the process (pidof NAME)"),
	"track_bfd":               fatal("not supported: xlb has no BFD"),
}

// resolveSyncGroups applies what keepalived does once every instance is
// known (vrrp.c vrrp_complete_instance and sync_group_tracking_init): a
// member's own weighted track_script is dropped unless the group has
// sync_group_tracking_weight, since members whose priorities float apart
// could never agree on a master; then the group's tracking is added to
// every member, its weights cleared if a member is an address owner.
func (k *kreader) resolveSyncGroups() {
	byName := map[string]int{}
	for i := range k.cfg.VRRP {
		byName[k.cfg.VRRP[i].Name] = i
	}
	for _, tr := range k.groupTracks {
		g := k.cfg.SyncGroups[tr.group]
		ctx := "vrrp_sync_group " + g.Name
		var members []int
		for _, name := range g.Members {
			if i, ok := byName[name]; ok && !slices.Contains(members, i) {
				members = append(members, i)
			}
		}
		owner := false
		for _, i := range members {
			owner = owner || k.isOwner(i)
		}
		for _, i := range members {
			v := &k.cfg.VRRP[i]
			vp := fmt.Sprintf("vrrp[%d]", i)
			if !tr.weights {
				kept := v.TrackScripts[:0]
				for _, sc := range v.TrackScripts {
					if sc.Weight != 0 {
						k.d.warnIn(k.src, vp, "", "ignoring tracked script %s with weights due to SYNC group %s (as keepalived; add sync_group_tracking_weight to the group to keep it)", sc.Name, g.Name)
						continue
					}
					kept = append(kept, sc)
				}
				v.TrackScripts = kept
			}
			for _, ifname := range tr.ifaces {
				if !slices.Contains(v.TrackInterfaces, ifname) {
					k.src.object(fmt.Sprintf("%s.track_interfaces[%d]", vp, len(v.TrackInterfaces)), tr.line, ctx)
					v.TrackInterfaces = append(v.TrackInterfaces, ifname)
				}
			}
			for j, sc := range tr.scripts {
				if owner && sc.Weight != 0 {
					k.d.warn(tr.scriptLines[j], ctx, sc.Name, "Cannot have weighted track script '%s' with member having priority 255 - clearing weight (as keepalived)", sc.Name)
					sc.Weight = 0
					tr.scripts[j].Weight = 0
				}
				if n := slices.IndexFunc(v.TrackScripts, func(x vrrp.Script) bool { return x.Name == sc.Name }); n >= 0 {
					k.d.warn(tr.scriptLines[j], ctx, sc.Name, "track_script %s is configured on VRRP instance %s and its sync group: the group's weight is used (as keepalived)", sc.Name, v.Name)
					v.TrackScripts[n] = sc
					continue
				}
				k.src.object(fmt.Sprintf("%s.track_scripts[%d]", vp, len(v.TrackScripts)), tr.scriptLines[j], ctx)
				v.TrackScripts = append(v.TrackScripts, sc)
			}
		}
	}
}

// isOwner reports whether instance i has, or will get by keepalived's
// derivation, priority 255.
func (k *kreader) isOwner(i int) bool {
	v := &k.cfg.VRRP[i]
	vp := fmt.Sprintf("vrrp[%d]", i)
	if k.src.has(vp, "priority") {
		return v.Priority == vrrp.PriorityOwner
	}
	return k.src.has(vp, "state") && v.InitialState == vrrp.StateMaster
}

// validateSyncGroups checks membership as keepalived's vrrp_sync_set_group
// does, but refuses what keepalived would drop with a log line: a member
// that is not an instance, or one in two groups, would silently not fail
// over with the others.
func validateSyncGroups(cfg *Config, src *srcMap, d *diags) {
	inGroup := map[string]string{}
	names := map[string]bool{}
	for i := range cfg.VRRP {
		names[cfg.VRRP[i].Name] = true
	}
	for i := range cfg.SyncGroups {
		g := &cfg.SyncGroups[i]
		path := fmt.Sprintf("sync_groups[%d]", i)
		if g.Name == "" {
			d.errIn(src, path, "name", ErrInvalid, "required")
		}
		seen := map[string]bool{}
		for _, m := range g.Members {
			switch {
			case !names[m]:
				d.errIn(src, path, "members", ErrInvalid, "Virtual router %s specified in sync group %s doesn't exist (keepalived would ignore it; xlb refuses, since it would not fail over with the group)", m, g.Name)
			case seen[m]:
				d.errIn(src, path, "members", ErrInvalid, "%s is listed twice", m)
			case inGroup[m] != "":
				d.errIn(src, path, "members", ErrInvalid, "Virtual router %s cannot exist in more than one sync group (already in %s)", m, inGroup[m])
			}
			seen[m] = true
			if inGroup[m] == "" {
				inGroup[m] = g.Name
			}
		}
		if len(g.Members) == 0 {
			d.errIn(src, path, "members", ErrInvalid, "a sync group needs members")
		} else if len(seen) == 1 {
			d.warnIn(src, path, "members", "Sync group %s has only 1 virtual router(s) - this probably isn't what you want (as keepalived)", g.Name)
		}
	}
}
