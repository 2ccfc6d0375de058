#!/usr/bin/env bash
# Provisions the BGP lab's router: bird2 peering with the three directors
# (eBGP, BFD at 100 ms x 3), their VIP routes merged into one ECMP route in
# the kernel, and the kernel hashing flows over it by L4 (addresses and
# ports), so every connection stays on one director.
#
#   router.sh setup      write bird.conf, set the sysctls, start bird
#
# LAB_MODE=netns (default) keeps bird.conf, its socket and pid file under
# LAB_DIR/router and runs bird directly; LAB_MODE=vm writes
# /etc/bird/bird.conf and restarts Debian's bird service (Vagrant).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lab.env
source "$here/lab.env"

cmd=${1:?usage: router.sh setup}
[ "$cmd" = setup ] || { echo "router.sh: unknown command $cmd" >&2; exit 2; }
mode=${LAB_MODE:-netns}
if [ "$mode" = netns ]; then
	dir=${LAB_DIR:?LAB_DIR must be set in netns mode}/router
	conf=$dir/bird.conf
else
	dir=/etc/bird
	conf=$dir/bird.conf
fi
mkdir -p "$dir"

# Forward, and pick an ECMP next hop by the 5-tuple (policy 1), not by the
# addresses only: the lab has one client address.
sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
if [ "$mode" = vm ]; then
	printf 'net.ipv4.ip_forward=1\nnet.ipv4.fib_multipath_hash_policy=1\n' >/etc/sysctl.d/90-xlb-lab.conf
fi

{
	cat <<BIRD
# bird2 config of the xlb BGP lab's router, written by scripts/lab/router.sh.
router id $LAB_ROUTER;
protocol device {}
# Routes learnt by BGP go to the kernel; "merge paths" makes the directors'
# equal routes to a VIP one multipath route (ECMP).
protocol kernel {
	ipv4 { import none; export all; };
	merge paths on;
}
protocol bfd {
	interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
}
# Accept only the VIP's /32 from the directors.
# error wait time: after a failure (BFD down) bird waits 60-300 s before it
# takes the director back; a rebooted director returns within seconds.
template bgp director {
	local $LAB_ROUTER as $LAB_ROUTER_AS;
	bfd on;
	error wait time 1, 10;
	ipv4 { import where net = $LAB_VIP/32; export none; };
}
BIRD
	for role in lvs1 lvs2 lvs3; do
		var=LAB_${role^^}
		echo "protocol bgp $role from director { neighbor ${!var} as $LAB_DIRECTOR_AS; }"
	done
} >"$conf"

if [ "$mode" = netns ]; then
	bird -c "$conf" -s "$dir/bird.ctl" -P "$dir/bird.pid"
else
	systemctl restart bird
fi
