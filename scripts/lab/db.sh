#!/usr/bin/env bash
# Provisions one MariaDB server of the lab's master-master pair.
#
#   db.sh setup ROLE      configure, initialise, start, create users and database
#   db.sh replicate ROLE  replicate from the other master (run on both after setup)
#   db.sh start|stop|kill ROLE
#   db.sh route ROLE      (BGP lab) answer the clients behind the router through it
#
# ROLE is db1 or db2. LAB_MODE=netns (default) keeps everything under
# LAB_DIR/ROLE and runs mariadbd directly (no systemd in a namespace);
# LAB_MODE=vm uses the distribution's mariadb service (Vagrant).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lab.env
source "$here/lab.env"

cmd=${1:?usage: db.sh setup|replicate|route|start|stop|kill ROLE}
role=${2:?role db1 or db2}
mode=${LAB_MODE:-netns}
# How each backend accepts the IPv6 VIP (both ways work; the lab runs one of
# each so the e2e test covers both): db1 by ip6tables REDIRECT, as IPv4;
# db2 by the VIP on lo. IPv6 needs no arp_ignore/arp_announce for the
# latter: Linux answers a neighbour solicitation only for an address of the
# interface it arrived on (ndisc_recv_ns looks the target up on that
# device), never for one on lo, and a solicitation it sends takes its
# source from the outgoing interface, so the backend never announces the VIP.
# The VIP is deprecated (preferred_lft 0) so the backend's own connections
# never take it as their source (RFC 6724 would pick it over the backend's
# address as often as not; the replies would then go to the director): it
# still accepts connections to it. keepalived (and xlbd's VRRP) add an IPv6
# VIP on the director the same way, for the same reason.
case $role in
db1) ip=$LAB_DB1 peer=$LAB_DB2 id=1 vip6=redirect ;;
db2) ip=$LAB_DB2 peer=$LAB_DB1 id=2 vip6=loopback ;;
*) echo "db.sh: unknown role $role" >&2; exit 2 ;;
esac

if [ "$mode" = netns ]; then
	dir=${LAB_DIR:?LAB_DIR must be set in netns mode}/$role
	cnf=$dir/my.cnf
	sock=$dir/mysqld.sock
	datadir=$dir/data
else
	dir=/var/lib/mysql
	cnf=/etc/mysql/mariadb.conf.d/60-xlb-lab.cnf
	sock=/run/mysqld/mysqld.sock
	datadir=/var/lib/mysql
fi

sql() { mariadb --socket="$sock" -uroot --batch --skip-column-names -e "$1"; }

write_config() {
	mkdir -p "$dir"
	{
		echo "[mysqld]"
		if [ "$mode" = netns ]; then
			echo "datadir=$datadir"
			echo "socket=$sock"
			echo "pid-file=$dir/mysqld.pid"
			echo "log-error=$dir/error.log"
			echo "user=root"
			echo "innodb_buffer_pool_size=64M"
			echo "innodb_log_file_size=16M"
		fi
		cat <<CNF
bind-address=*
port=3306
server-id=$id
log-bin=mysql-bin
log-slave-updates=1
gtid-domain-id=$id
binlog-format=ROW
auto-increment-increment=2
auto-increment-offset=$id
skip-name-resolve=1
max_connections=500
CNF
	} >"$cnf"
}

install_db() {
	rm -rf "$datadir"
	mariadb-install-db --defaults-file="$cnf" --skip-test-db --auth-root-authentication-method=socket >"$dir/install.log" 2>&1
}

wait_ready() {
	# Up to 60s: a busy machine can be slow to start InnoDB.
	for _ in $(seq 1 600); do
		if mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "db.sh: $role did not become ready; log:" >&2
	tail -20 "$dir/error.log" >&2 || true
	return 1
}

start() {
	if [ "$mode" = netns ]; then
		setsid mariadbd --defaults-file="$cnf" >>"$dir/stdout.log" 2>&1 </dev/null &
		wait_ready
	else
		systemctl restart mariadb
		wait_ready
	fi
}

stop() {
	if [ "$mode" = netns ]; then
		if [ -f "$dir/mysqld.pid" ]; then
			kill -TERM "$(cat "$dir/mysqld.pid")" 2>/dev/null || true
			for _ in $(seq 1 100); do [ -f "$dir/mysqld.pid" ] || break; sleep 0.1; done
		fi
	else
		systemctl stop mariadb
	fi
}

case $cmd in
setup)
	write_config
	if [ "$mode" = netns ]; then
		install_db || install_db || {
			echo "db.sh: mariadb-install-db failed twice for $role:" >&2
			grep -v '^$' "$dir/install.log" | head -15 >&2
			exit 1
		}
	fi
	start
	# Users are created without binary logging: each master creates its own,
	# and replicating them would collide on the peer.
	sql "SET sql_log_bin=0;
	CREATE DATABASE IF NOT EXISTS $LAB_DATABASE;
	CREATE USER IF NOT EXISTS '$LAB_APP_USER'@'%' IDENTIFIED BY '$LAB_APP_PASS';
	GRANT ALL ON $LAB_DATABASE.* TO '$LAB_APP_USER'@'%';
	CREATE USER IF NOT EXISTS '$LAB_CHECK_USER'@'%' IDENTIFIED BY '$LAB_CHECK_PASS';
	GRANT USAGE, SLAVE MONITOR ON *.* TO '$LAB_CHECK_USER'@'%';
	CREATE USER IF NOT EXISTS '$LAB_REPL_USER'@'%' IDENTIFIED BY '$LAB_REPL_PASS';
	GRANT REPLICATION SLAVE ON *.* TO '$LAB_REPL_USER'@'%';
	FLUSH PRIVILEGES;"
	# The VIP reaches mysqld through the seed's rule: REDIRECT rewrites the
	# destination to this host's own address.
	iptables -t nat -C PREROUTING -d "$LAB_VIP" -j REDIRECT 2>/dev/null ||
		iptables -t nat -A PREROUTING -d "$LAB_VIP" -j REDIRECT
	if [ "$vip6" = redirect ]; then
		ip6tables -t nat -C PREROUTING -d "$LAB_VIP6" -j REDIRECT 2>/dev/null ||
			ip6tables -t nat -A PREROUTING -d "$LAB_VIP6" -j REDIRECT
	else
		ip -6 addr replace "$LAB_VIP6/128" dev lo nodad preferred_lft 0
	fi
	;;
replicate)
	sql "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='$peer', MASTER_PORT=3306, MASTER_USER='$LAB_REPL_USER',
	MASTER_PASSWORD='$LAB_REPL_PASS', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;"
	;;
route)
	# Direct routing: the answers go straight to the client, which sits
	# behind the router in the BGP lab.
	ip route replace "$LAB_CLIENT_NET" via "$LAB_ROUTER"
	;;
start) start ;;
stop) stop ;;
kill)
	if [ "$mode" = netns ]; then
		[ -f "$dir/mysqld.pid" ] && kill -KILL "$(cat "$dir/mysqld.pid")" 2>/dev/null || true
		rm -f "$dir/mysqld.pid"
	else
		systemctl kill -s KILL mariadb
	fi
	;;
*) echo "db.sh: unknown command $cmd" >&2; exit 2 ;;
esac
