package daemon

import (
	"xlb/control/config"
	"xlb/control/vrrp"
)

func vrrpConfig(v config.VRRPInstance) vrrp.Config {
	c := vrrp.Config{
		Name: v.Name, Interface: v.Interface, VRID: v.VRID, Priority: v.Priority, Version: uint8(v.Version),
		AdvertInterval: v.AdvertInterval, NoPreempt: v.NoPreempt, PreemptDelay: v.PreemptDelay,
		UnicastSrc: v.UnicastSrcIP, UnicastPeers: v.UnicastPeers, TrackInterfaces: v.TrackInterfaces,
		NotifyMaster: v.NotifyMaster, NotifyBackup: v.NotifyBackup, NotifyFault: v.NotifyFault,
		NotifyStop: v.NotifyStop, Notify: v.Notify,
		GARPMasterDelay: v.GARPMasterDelay, GARPMasterRepeat: v.GARPMasterRepeat, GARPMasterRefresh: v.GARPMasterRefresh,
		GARPMasterRefreshRepeat: v.GARPMasterRefreshRepeat,
		GARPLowerPrioDelay:      v.GARPLowerPrioDelay, GARPLowerPrioRepeat: v.GARPLowerPrioRepeat,
		McastGroup: v.McastGroup4, StartupDelay: v.StartupDelay,
		CheckUnicastSrc: v.CheckUnicastSrc, SkipCheckAdvAddr: v.SkipCheckAdvAddr, Strict: v.Strict,
	}
	// The config's 0 is keepalived's "garp_master_delay 0": no second burst;
	// vrrp.Config reserves 0 for its 5 s default.
	if v.GARPMasterDelay == 0 {
		c.GARPMasterDelay = -1
	}
	if v.State == config.StateMaster {
		c.InitialState = vrrp.StateMaster
	}
	if v.AuthType == config.AuthPass {
		c.AuthPass = v.AuthPass.Reveal()
	}
	for _, a := range v.VIPs {
		c.VIPs = append(c.VIPs, vrrp.VIP{Prefix: a.Prefix, Dev: a.Dev, Label: a.Label})
	}
	return c
}
