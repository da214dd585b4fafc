#!/bin/sh
# Install sinktrap as a service, or take it away again.
#   scripts/install.sh install     (make install)
#   scripts/install.sh uninstall   (make uninstall)
# Where things go (environment, as make passes them):
#   PREFIX=/usr/local       the binary in PREFIX/bin, the docs in PREFIX/share/doc/sinktrap
#   SYSCONFDIR=/etc         the configuration in SYSCONFDIR/sinktrap
#   LOCALSTATEDIR=/var      the state in LOCALSTATEDIR/lib/sinktrap, events in LOCALSTATEDIR/log/sinktrap
#   UNITDIR=/etc/systemd/system
#   SINKTRAP_USER=sinktrap  the workers' user, made (a system user) if missing
#   DESTDIR=                a staging root (packaging): no user is made, nothing is chowned
#   BUILD=build             the build directory (relative to the project, or absolute)
# The configuration, the lists and the state are never overwritten or removed.
set -eu

PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
LOCALSTATEDIR=${LOCALSTATEDIR:-/var}
UNITDIR=${UNITDIR:-/etc/systemd/system}
SINKTRAP_USER=${SINKTRAP_USER:-sinktrap}
DESTDIR=${DESTDIR:-}
BUILD=${BUILD:-build}

BINDIR=$PREFIX/bin
DOCDIR=$PREFIX/share/doc/sinktrap
CONFDIR=$SYSCONFDIR/sinktrap
STATEDIR=$LOCALSTATEDIR/lib/sinktrap
LOGDIR=$LOCALSTATEDIR/log/sinktrap
HERE=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in
/*) BIN=$BUILD/sinktrap ;;
*) BIN=$HERE/$BUILD/sinktrap ;;
esac

say() { echo "$*"; }

# Installing into this system (no DESTDIR) with systemd running it.
live_systemd() {
	[ -z "$DESTDIR" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]
}

fill() { # template -> stdout, the @NAMES@ replaced
	sed -e "s|@BINDIR@|$BINDIR|g" -e "s|@DOCDIR@|$DOCDIR|g" -e "s|@CONFDIR@|$CONFDIR|g" \
	    -e "s|@STATEDIR@|$STATEDIR|g" -e "s|@LOGDIR@|$LOGDIR|g" -e "s|@USER@|$SINKTRAP_USER|g" "$1"
}

for d in "$PREFIX" "$SYSCONFDIR" "$LOCALSTATEDIR" "$UNITDIR"; do
	case $d in
	/*) ;;
	*) echo "install: $d: the directories must be absolute paths" >&2; exit 2 ;;
	esac
	case $d in
	*'|'* | *' '*) echo "install: $d: no spaces or '|' in the directories" >&2; exit 2 ;;
	esac
done

install_files() {
	if [ ! -x "$BIN" ]; then
		echo "install: $BIN is not built (make build)" >&2
		exit 1
	fi
	owner=""
	if [ -z "$DESTDIR" ]; then
		if [ "$(id -u)" != 0 ]; then
			echo "install: run as root (or give DESTDIR= to stage the files)" >&2
			exit 1
		fi
		if ! getent passwd "$SINKTRAP_USER" >/dev/null; then
			nologin=/usr/sbin/nologin
			[ -x "$nologin" ] || nologin=/bin/false
			useradd --system --user-group --no-create-home --home-dir "$STATEDIR" \
				--shell "$nologin" --comment "sinktrap workers" "$SINKTRAP_USER"
			say "made the system user $SINKTRAP_USER"
		fi
		owner="-o $SINKTRAP_USER -g $(id -gn "$SINKTRAP_USER")"
	fi
	install -d "$DESTDIR$BINDIR" "$DESTDIR$DOCDIR" "$DESTDIR$UNITDIR" "$DESTDIR$CONFDIR/lists"
	install -m 0755 "$BIN" "$DESTDIR$BINDIR/sinktrap"
	say "$BINDIR/sinktrap"
	install -m 0644 "$HERE/README.md" "$DESTDIR$DOCDIR/README.md"
	for f in "$HERE"/docs/*.md "$HERE"/docs/*.yaml; do
		install -m 0644 "$f" "$DESTDIR$DOCDIR/$(basename "$f")"
	done
	say "$DOCDIR/"
	fill "$HERE/etc/systemd/sinktrap.service.in" > "$DESTDIR$UNITDIR/sinktrap.service.tmp"
	chmod 0644 "$DESTDIR$UNITDIR/sinktrap.service.tmp"
	mv "$DESTDIR$UNITDIR/sinktrap.service.tmp" "$DESTDIR$UNITDIR/sinktrap.service"
	say "$UNITDIR/sinktrap.service"
	# The administrator's files: written once, kept across installs.
	if [ ! -e "$DESTDIR$CONFDIR/sinktrap.conf" ]; then
		fill "$HERE/etc/sinktrap-host.conf.in" > "$DESTDIR$CONFDIR/sinktrap.conf"
		chmod 0644 "$DESTDIR$CONFDIR/sinktrap.conf"
		say "$CONFDIR/sinktrap.conf"
	else
		fill "$HERE/etc/sinktrap-host.conf.in" > "$DESTDIR$CONFDIR/sinktrap.conf.dist"
		say "$CONFDIR/sinktrap.conf kept; this version's is $CONFDIR/sinktrap.conf.dist"
	fi
	if [ ! -e "$DESTDIR$CONFDIR/lists/example.hosts" ]; then
		install -m 0644 "$HERE/etc/lists/example.hosts" "$DESTDIR$CONFDIR/lists/example.hosts"
	fi
	# The state and the event files belong to the workers' user.
	# shellcheck disable=SC2086
	install -d -m 0750 $owner "$DESTDIR$STATEDIR" "$DESTDIR$LOGDIR"
	say "$STATEDIR/ $LOGDIR/"
	if live_systemd; then
		systemctl daemon-reload || true
		say "start it now and at every boot: systemctl enable --now sinktrap"
	fi
}

uninstall_files() {
	if live_systemd; then
		systemctl disable --now sinktrap 2>/dev/null || true
	fi
	rm -f "$DESTDIR$BINDIR/sinktrap" "$DESTDIR$UNITDIR/sinktrap.service"
	rm -rf "$DESTDIR$DOCDIR"
	if live_systemd; then
		systemctl daemon-reload || true
	fi
	say "removed $BINDIR/sinktrap, $UNITDIR/sinktrap.service, $DOCDIR/"
	say "kept $CONFDIR/, $STATEDIR/, $LOGDIR/ and the user $SINKTRAP_USER"
}

case "${1:-}" in
install) install_files ;;
uninstall) uninstall_files ;;
*) echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
