#!/usr/bin/env bash
# Writes the xlbd config of one lab director (and, in a VM, installs and
# starts xlbd as a systemd service).
#
#   director.sh config ROLE [SCHEDULER [HA]]   ROLE lvs1, lvs2 (or lvs3 with bgp);
#                                             SCHEDULER rr (default) or fo; HA vrrp (default) or bgp
#
# vrrp: lvs1 is the VRRP MASTER (priority 101), lvs2 the BACKUP (100): the
# seed's keepalived pair. bgp: lvs1-3 all announce the VIP to the lab's
# router (scripts/lab/router.sh), which spreads the clients over them by
# ECMP; BFD takes a dead director out in ~300 ms. LAB_MODE=netns (default) writes LAB_DIR/ROLE/xlb.yaml;
# LAB_MODE=vm writes /etc/xlb/xlb.conf and starts the service.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lab.env
source "$here/lab.env"

cmd=${1:?usage: director.sh config ROLE [SCHEDULER [HA]]}
role=${2:?role lvs1, lvs2 or lvs3}
sched=${3:-rr}
ha=${4:-vrrp}
mode=${LAB_MODE:-netns}
case $role/$ha in
lvs1/*) state=master prio=101 ip=$LAB_LVS1 ;;
lvs2/*) state=backup prio=100 ip=$LAB_LVS2 ;;
lvs3/bgp) ip=$LAB_LVS3 ;;
*) echo "director.sh: unknown role $role (with $ha)" >&2; exit 2 ;;
esac
case $ha in vrrp | bgp) ;; *) echo "director.sh: HA is vrrp or bgp, not $ha" >&2; exit 2 ;; esac
[ "$cmd" = config ] || { echo "director.sh: unknown command $cmd" >&2; exit 2; }

if [ "$mode" = netns ]; then
	dir=${LAB_DIR:?LAB_DIR must be set in netns mode}/$role
	conf=$dir/xlb.yaml
else
	dir=/etc/xlb
	conf=$dir/xlb.conf
fi
mkdir -p "$dir"
umask 077
printf '%s\n' "$LAB_CHECK_PASS" >"$dir/check.pass"

# Flow sync needs a key shared by the directors (without one it stays off):
# the first director configured makes a random one, the others copy it.
if [ "$mode" = netns ]; then
	shared_key=$LAB_DIR/flowsync.key
else
	shared_key=/vagrant/.flowsync.key
fi
[ -s "$shared_key" ] || od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$shared_key"
install -m 0600 "$shared_key" "$dir/flowsync.key"

# The flow hash seed must be the same on every director too (a failover
# would otherwise move connections to other backends): made the same way.
if [ "$mode" = netns ]; then
	shared_seed=$LAB_DIR/hashseed
else
	shared_seed=/vagrant/.hashseed
fi
[ -s "$shared_seed" ] || od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$shared_seed"
install -m 0600 "$shared_seed" "$dir/hashseed"

# The MySQL check logs in and runs a query (a bare TCP check would get the
# director blocked by max_connect_errors). It does not check replication: in
# a two-node master-master pair the survivor's replication breaks whenever
# its peer dies, so such a check would take the survivor out as well.
check() {
	cat <<YAML
        check:
          kind: mysql
          connect_timeout: 1
          retry: 1
          delay_before_retry: 0.5
          mysql:
            user: $LAB_CHECK_USER
            password_file: $dir/check.pass
YAML
}

{
	cat <<YAML
# xlbd config of $role, written by scripts/lab/director.sh.
global:
  router_id: $role
interfaces: [${LAB_IFACE:-eth0}]
services:
  - name: mysql
    vip: $LAB_VIP
    port: 3306
    scheduler: $sched
    delay_loop: 1
    reals:
      - ip: $LAB_DB1
        weight: 1
$(check)
      - ip: $LAB_DB2
        weight: 1
$(check)
YAML
	if [ "$ha" = bgp ]; then
		cat <<YAML
bgp:
  local_as: $LAB_DIRECTOR_AS
  router_id: $ip
  withdraw_wait: 2
  neighbors:
    - {address: $LAB_ROUTER, peer_as: $LAB_ROUTER_AS, bfd: true}
YAML
	else
		# The VRRP lab is dual-stack: the same pair behind an IPv6 VIP too.
		cat <<YAML
  - name: mysql6
    vip: $LAB_VIP6
    port: 3306
    scheduler: $sched
    delay_loop: 1
    reals:
      - ip: $LAB_DB1_6
        weight: 1
$(check)
      - ip: $LAB_DB2_6
        weight: 1
$(check)
vrrp:
  - name: VI_1
    interface: ${LAB_IFACE:-eth0}
    vrid: $LAB_VRID
    priority: $prio
    state: $state
    advert_int: 1
    auth_type: pass
    auth_pass: $LAB_VRRP_PASS
    vips:
      - $LAB_VIP/32 dev ${LAB_IFACE:-eth0}
    garp_master_delay: 1
  - name: VI_6
    interface: ${LAB_IFACE:-eth0}
    vrid: $LAB_VRID6
    priority: $prio
    state: $state
    advert_int: 1
    vips:
      - $LAB_VIP6/128 dev ${LAB_IFACE:-eth0}
    garp_master_delay: 1
YAML
	fi
} >"$conf"

if [ "$mode" = vm ]; then
	install -m 0755 /vagrant/bin/xlbd /vagrant/bin/xlbctl /usr/local/bin/
	install -m 0644 /vagrant/dist/xlbd.service /etc/systemd/system/xlbd.service
	mkdir -p /etc/systemd/system/xlbd.service.d
	printf '[Service]\nEnvironment="XLBD_ARGS=%s --flow-sync-key %s --hash-seed-file %s"\n' "${LAB_XLBD_ARGS:-}" "$dir/flowsync.key" "$dir/hashseed" >/etc/systemd/system/xlbd.service.d/lab.conf
	systemctl daemon-reload
	systemctl enable --now xlbd
fi
