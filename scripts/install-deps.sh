#!/usr/bin/env bash
# Installs the Debian packages xlb's build, tests and lab need. Idempotent:
# packages already present are skipped without touching apt's lists.
set -euo pipefail
pkgs=(
	clang llvm libbpf-dev linux-libc-dev bpftool        # make generate
	iproute2 iptables nftables ethtool tcpdump socat procps psmisc util-linux # namespaces and the lab
	mariadb-server mariadb-client                       # MySQL backends and checks
	keepalived                                          # VRRP interoperability tests
	bird2                                               # the BGP router of the lab and of control/bgp tests
	sysbench haproxy                                    # make bench: MySQL load and the HAProxy baseline
	vagrant                                             # `vagrant validate` of the VM lab
	chromium                                            # the status page tested in a real browser
	prometheus                                          # promtool: the alert rules checked and unit-tested
	lintian                                             # make deb: the package checked
	make git ca-certificates
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	echo "note: Go is at /usr/local/go/bin; add it to PATH" >&2
fi
