#!/bin/sh
# Install the Debian packages sinktrap needs that are missing.
#   scripts/deps.sh build   what building needs
#   scripts/deps.sh test    what building and every test need
#   scripts/deps.sh bench   what the benchmarks in bench/ need
# Services that packages would start on install (dnsmasq, unbound...) are kept
# from starting: tests start their own instances on loopback.
set -eu

build="meson ninja-build pkg-config gcc libcmocka-dev libsqlite3-dev libssl-dev
libpcap-dev libseccomp-dev zlib1g-dev libpq-dev libmicrohttpd-dev libargon2-dev libidn2-dev"
test="$build clang libclang-rt-14-dev sqlite3 dnsutils dnsmasq-base python3 python3-pytest
python3-dnspython python3-scapy iproute2 nftables procps
rsyslog rsyslog-openssl postgresql python3-psycopg2 openssl tcpdump tshark
swaks nmap curl openssh-client unzip chromium nodejs npm wireshark-common systemd systemd-container"
bench="$test dnsperf unbound knot-resolver time wrk inetsim tcpreplay daemonlogger linux-perf bc"

case "${1:-build}" in
build) want=$build ;;
test) want=$test ;;
bench) want=$bench ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	# nodejs from elsewhere (nodesource) carries its own npm.
	[ "$p" = npm ] && command -v npm >/dev/null 2>&1 && continue
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "missing Debian packages:$missing" >&2
	echo "run as root, or: apt-get install$missing" >&2
	exit 1
fi
echo "installing:$missing"
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	made_policy=1
fi
trap '[ -n "$made_policy" ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
