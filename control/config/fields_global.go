package config

import "xlb/control/flowsync/group"

// globalFields are global_defs' keywords (native: global). script_user and
// xlb_interface take several words and are read by hand in keepalived.go;
// any other global_defs keyword is a process setting of keepalived's that
// does not change how traffic is balanced: a warning.
var globalFields = []field[Global]{
	{ka: []string{"router_id", "lvs_id"}, key: "router_id", val: func(g *Global) value { return strValue{&g.RouterID} },
		def: "empty (the daemon uses the host name)", doc: "names this director"},
	{ka: []string{"default_interface"}, key: "default_interface", val: func(g *Global) value { return strValue{&g.DefaultInterface} },
		def: "empty", doc: "the interface of a vrrp_instance that names none"},
	{ka: []string{"xlb_hash_seed_file"}, key: "hash_seed_file", val: func(g *Global) value { return strValue{&g.HashSeedFile} },
		def: "empty (xlbd run --hash-seed-file, else the public default seed, with a warning)", doc: "file (mode 0600, owner root) whose content (8 or more characters) is hashed to the flow hash seed; the same on both directors, read at start"},
	{ka: []string{"xlb_flow_sync_group"}, key: "flow_sync_group", val: func(g *Global) value { return groupValue{&g.FlowSyncGroup, group.Parse} },
		def: "224.0.0.81:8848 (xlbd run --flow-sync-group wins)", doc: "multicast group:port of flow sync: IPv4, or IPv6 link-local scope such as [ff02::81]:8848 (sent from the interface's link-local address); TTL or hop limit 255 sent and required; read at start"},
	{ka: []string{"enable_script_security"}, key: "enable_script_security", val: func(g *Global) value { return boolValue{&g.EnableScriptSecurity} },
		def: "off", doc: "a script run as root that a non-root user could change (it or a directory on its path) is refused with the reason; off: it runs with a warning"},
	{ka: []string{"vrrp_version"}, key: "vrrp_version", val: func(g *Global) value { return intRange(&g.VRRP.Version, 2, 3) },
		def: "2", doc: "every IPv4 instance's version unless it sets its own; an IPv6 instance speaks 3, as in keepalived"},
	{ka: []string{"vrrp_mcast_group4"}, key: "vrrp_mcast_group4", val: func(g *Global) value { return addrValue{&g.VRRP.McastGroup4, parseMcast4} },
		def: "224.0.0.18", doc: "where multicast adverts go and are received"},
	{ka: []string{"vrrp_mcast_group6"}, key: "vrrp_mcast_group6", val: func(g *Global) value { return addrValue{&g.VRRP.McastGroup6, parseMcast6} },
		def: "ff02::12", doc: "the same for IPv6 instances: a link-local multicast address (ff02::/16)"},
	{ka: []string{"vrrp_garp_master_delay"}, key: "vrrp_garp_master_delay", val: func(g *Global) value { return durValue{&g.VRRP.GARPMasterDelay} },
		def: "5s", doc: "default of the instances' garp_master_delay"},
	{ka: []string{"vrrp_garp_master_repeat"}, key: "vrrp_garp_master_repeat", val: func(g *Global) value { return intRange(&g.VRRP.GARPMasterRepeat, 1, 255) },
		def: "5", doc: "default of the instances' garp_master_repeat"},
	{ka: []string{"vrrp_garp_master_refresh"}, key: "vrrp_garp_master_refresh", val: func(g *Global) value { return durValue{&g.VRRP.GARPMasterRefresh} },
		def: "0 (never)", doc: "default of the instances' garp_master_refresh"},
	{ka: []string{"vrrp_garp_master_refresh_repeat"}, key: "vrrp_garp_master_refresh_repeat", val: func(g *Global) value { return intRange(&g.VRRP.GARPMasterRefreshRepeat, 1, 255) },
		def: "1", doc: "default of the instances' garp_master_refresh_repeat"},
	{ka: []string{"vrrp_garp_lower_prio_delay"}, key: "vrrp_garp_lower_prio_delay", val: func(g *Global) value { return durValue{&g.VRRP.GARPLowerPrioDelay} },
		def: "vrrp_garp_master_delay", doc: "default of the instances' garp_lower_prio_delay", warn: lowerPrioWhy},
	{ka: []string{"vrrp_garp_lower_prio_repeat"}, key: "vrrp_garp_lower_prio_repeat", val: func(g *Global) value { return intRange(&g.VRRP.GARPLowerPrioRepeat, 0, 255) },
		def: "vrrp_garp_master_repeat", doc: "default of the instances' garp_lower_prio_repeat", warn: lowerPrioWhy},
	{ka: []string{"vrrp_garp_interval"}, key: "vrrp_garp_interval", val: func(g *Global) value { return paceValue{&g.VRRP.GARPInterval} },
		def: "0 (back to back)", doc: pacingDoc("gratuitous ARPs")},
	{ka: []string{"vrrp_gna_interval"}, key: "vrrp_gna_interval", val: func(g *Global) value { return paceValue{&g.VRRP.GNAInterval} },
		def: "0 (back to back)", doc: pacingDoc("unsolicited neighbour advertisements")},
	{ka: []string{"vrrp_startup_delay"}, key: "vrrp_startup_delay", val: func(g *Global) value { return durValue{&g.VRRP.StartupDelay} },
		def: "0", doc: "keepalived holds every instance back this long at start", warn: startupDelayWhy},
	{ka: []string{"vrrp_check_unicast_src"}, key: "vrrp_check_unicast_src", val: func(g *Global) value { return boolValue{&g.VRRP.CheckUnicastSrc} },
		def: "off", doc: "default of the instances' check_unicast_src (xlb always drops adverts from outside unicast_peer)"},
	{ka: []string{"vrrp_skip_check_adv_addr"}, key: "vrrp_skip_check_adv_addr", val: func(g *Global) value { return boolValue{&g.VRRP.SkipCheckAdvAddr} },
		def: "off", doc: "default of the instances' skip_check_adv_addr", warn: skipCheckAdvAddrWhy},
	{ka: []string{"vrrp_higher_prio_send_advert"}, key: "vrrp_higher_prio_send_advert", val: func(g *Global) value { return boolValue{&g.VRRP.HigherPrioSendAdvert} },
		def: "off", doc: "default of the instances' higher_prio_send_advert"},
	{ka: []string{"vrrp_strict"}, key: "vrrp_strict", val: func(g *Global) value { return boolValue{&g.VRRP.Strict} },
		def: "off", doc: "default of the instances' strict_mode", warn: strictWhy},
}
