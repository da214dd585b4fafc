"""sinktrap started at boot by a real systemd.

A machine boots with systemd as its PID 1 (systemd-nspawn --boot) on an
overlay of this machine's root: its own files go to a tmpfs, so nothing it
writes stays. `make install` runs in it (chroot) with the default paths and
user; the administrator names the capture interface and runs `systemctl
enable sinktrap`. The machine's network is the sinkhole host's namespace of
installenv.network:

    client (10.99.0.1) --veth-- [booted machine] (10.99.0.2 | 10.98.0.1) --veth-- resolver (10.98.0.2:53)

The machine's /etc/resolv.conf names the resolver (the installed
`upstream = system`). The services this machine has enabled (dnsmasq would
take port 53, PostgreSQL...) are left out of the machine's boot.

What is checked, through the machine's own systemctl and journalctl: the
service is active after the boot with nobody starting it, ready only when it
said so (Type=notify); it sinkholes, forwards and traps for the client, and
captures that session under the unit's sandbox; `systemctl reload` takes a
list change; a killed main process is restarted by systemd with its map
kept; a broken configuration is refused by ExecStartPre with FILE:LINE in the
journal, and the unit is then left failed; `systemctl stop` ends it cleanly
and removes its ruleset and routes; the journal carries each line's priority.
"""

import ipaddress
import json
import os
import shutil
import subprocess
import time

import pytest

import harness
from installenv import POOL4, ROOT, dig, json_events, serves_the_client
from trapenv import OUTSIDE_IP, TRAP_IP

CONF = "/etc/sinktrap/sinktrap.conf"
LIST = "/etc/sinktrap/lists/example.hosts"


def run(argv, timeout=60, check=True, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check:
        assert r.returncode == 0, f"{argv}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


class Machine:
    """A root made of an overlay on / (upper layer on a tmpfs), booted later."""

    def __init__(self, base):
        self.base = base
        self.root = base / "root"
        self.mounted = []
        self.proc = None
        self.pid1 = None

    def make_root(self):
        self.base.mkdir()
        run(["mount", "-t", "tmpfs", "-o", "size=1g,mode=0755", "sinktrap-e2e", self.base])
        self.mounted.append(self.base)
        for d in ("upper", "work", "root"):
            (self.base / d).mkdir()
        run(["mount", "-t", "overlay", "sinktrap-e2e", "-o",
             f"lowerdir=/,upperdir={self.base / 'upper'},workdir={self.base / 'work'}",
             self.root])
        self.mounted.append(self.root)

    def leave_out_this_machines_services(self):
        """Mask, in the machine, the services this machine has enabled (its
        *.wants links and its SysV scripts): dnsmasq or inetsim would take the
        ports sinktrap serves, PostgreSQL would only slow the boot."""
        keep = {"sysinit.target.wants", "getty.target.wants", "timers.target.wants"}
        units = set()
        for wants in self.path("/etc/systemd/system").glob("*.wants"):
            if wants.name not in keep:
                units |= {u.name for u in wants.iterdir()}
        for rc in self.path("/etc").glob("rc[2-5].d"):
            units |= {u.name[3:] + ".service" for u in rc.glob("S??*")}
        units -= {"dbus.service", "sinktrap.service"}
        if units:
            run(["systemctl", f"--root={self.root}", "mask"] + sorted(units))

    def path(self, p):
        return self.root / str(p).lstrip("/")

    def boot(self, netns, log):
        self.proc = harness.Proc(
            ["systemd-nspawn", "-D", self.root, "--register=no", "--keep-unit",
             f"--network-namespace-path=/run/netns/{netns}", "--resolv-conf=off",
             "--timezone=off", "--link-journal=no", "--console=pipe", "-M", "sinktrap-e2e",
             # what a sinkhole host's root has: its firewall, and capture
             "--capability=CAP_NET_ADMIN,CAP_NET_RAW",
             "--boot", "--", "systemd.firstboot=off"], log)

        def pid1():
            # the machine's init: in the sinkhole host's namespace, pid 1 in its own
            for pid in run(["ip", "netns", "pids", netns], check=False).stdout.split():
                try:
                    st = harness.proc_status(int(pid))
                except (FileNotFoundError, ProcessLookupError):
                    continue
                if st.get("NSpid", "").split()[-1:] == ["1"] and st.get("Name") == "systemd":
                    return int(pid)
            assert self.proc.alive(), "the machine did not boot:\n" + self.proc.log()[-3000:]
            return None

        self.pid1 = harness.wait_until(pid1, 60, interval=0.2, what="the machine's init")

        def booted():
            # (until its bus is up, systemctl cannot ask)
            r = self.exec(["systemctl", "is-system-running", "--wait"], timeout=180, check=False)
            return r.stdout.strip() not in ("", "offline", "unknown") and r

        r = harness.wait_until(booted, 180, interval=0.5, what="the machine's boot")
        state = r.stdout.strip()
        assert state in ("running", "degraded"), \
            f"boot ended {state!r}: {r.stderr}\n{self.proc.log()[-3000:]}"
        if state == "degraded":
            failed = self.exec(["systemctl", "--failed", "--no-legend"]).stdout
            assert "sinktrap" not in failed, failed

    def exec(self, argv, timeout=60, check=True, input=None):
        """A command in the machine (its namespaces, its root)."""
        return run(["nsenter", "-t", self.pid1, "-a"] + list(argv), timeout=timeout,
                   check=check, input=input)

    def show(self, *props):
        r = self.exec(["systemctl", "show", "sinktrap.service"] + [f"-p{p}" for p in props])
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def journal(self, *args):
        """The service's journal lines as JSON records."""
        r = self.exec(["journalctl", "-u", "sinktrap.service", "-o", "json", "--no-pager"]
                      + list(args), check=False)
        return [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]

    def shutdown(self):
        if self.proc and self.proc.alive():
            if self.pid1:
                self.exec(["systemctl", "poweroff", "--no-block"], check=False)
            if self.proc.wait(90) is None:
                self.proc.kill_all()
        if self.proc:
            self.proc.kill_all()
        for m in reversed(self.mounted):
            run(["umount", "-l", m], check=False)


@pytest.fixture
def machine(host, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("booting a machine needs root")
    if shutil.which("systemd-nspawn") is None:
        pytest.fail("systemd-nspawn is missing (scripts/deps.sh test installs systemd-container)")
    m = Machine(tmp_path / "machine")
    try:
        m.make_root()
        # `make install`, as root on that machine: the tree and the build, wherever
        # they are mounted here, seen at the same paths there
        build = harness.sinktrap_bin().parent
        binds = [ROOT] + ([] if build.is_relative_to(ROOT) else [build])
        for d in binds:
            m.path(d).mkdir(parents=True, exist_ok=True)
            run(["mount", "--bind", "-o", "ro", d, m.path(d)])
        try:
            r = run(["chroot", m.root, "/usr/bin/env", f"BUILD={build}",
                     "/bin/sh", ROOT / "scripts/install.sh", "install"], timeout=300)
        finally:
            for d in reversed(binds):
                run(["umount", m.path(d)], check=False)
        assert CONF in r.stdout, r.stdout
        m.leave_out_this_machines_services()
        m.path("/etc/resolv.conf").unlink(missing_ok=True)
        m.path("/etc/resolv.conf").write_text(f"nameserver {OUTSIDE_IP}\n")
        # the administrator's steps: name the capture interface (the client's link; a
        # closed session ends 2 s after its FIN here instead of 60 s), enable the unit
        conf = m.path(CONF).read_text()
        assert conf.count("enabled = no\n") == 1 and "# interface = eth0\n" in conf
        m.path(CONF).write_text(conf.replace("enabled = no\n", "enabled = yes\n").replace(
            "# interface = eth0\n", f"interface = {host.v_trap_c}\ntcp_closed_timeout = 2s\n"))
        run(["systemctl", f"--root={m.root}", "enable", "sinktrap.service"])
        m.boot(host.trap, tmp_path / "machine.log")
        yield m
    finally:
        m.shutdown()


def test_started_at_boot_by_systemd(machine, host):
    m, topo = machine, host

    # active after the boot, started by nobody but systemd, and ready when it said so
    def up():
        state = m.show("ActiveState")["ActiveState"]
        assert state != "failed", [j.get("MESSAGE") for j in m.journal()][-30:]
        return state == "active"

    try:
        harness.wait_until(up, 60, interval=0.5, what="sinktrap.service active after the boot")
    except harness.Timeout:
        r = m.exec(["systemctl", "status", "--no-pager", "-n", "40", "sinktrap.service"],
                   check=False)
        raise AssertionError(f"not active after the boot:\n{r.stdout}{r.stderr}")
    s = m.show("Type", "UnitFileState", "MainPID", "NRestarts", "StatusText", "ExecMainPID")
    assert s["Type"] == "notify" and s["UnitFileState"] == "enabled", s
    assert s["NRestarts"] == "0" and s["MainPID"] == s["ExecMainPID"] != "0", s
    main_pid = int(s["MainPID"])
    lines = [j.get("MESSAGE", "") for j in m.journal()]
    assert any("ready: every worker is up" in x for x in lines), lines[-30:]

    # the workers run as the installed user, the parent as root
    ps = m.exec(["ps", "-o", "user=,ppid=,comm=", "-e"]).stdout.split("\n")
    workers = [x.split() for x in ps if x.split()[1:2] == [str(main_pid)]]
    assert {w[2] for w in workers} >= {"sinktrap-dns", "sinktrap-trap", "sinktrap-store",
                                       "sinktrap-web", "sinktrap-captur"}, ps
    assert {w[0] for w in workers} == {"sinktrap"}, workers

    # it serves the client: sinkholed names (v4, v6), unlisted ones forwarded, the trap
    addr = serves_the_client(topo, 4444)

    def recorded():
        evs = json_events(m.path("/var/log/sinktrap/events.json"))
        return any(e["event_type"] == "trap" and e.get("dest_port") == 4444 for e in evs) \
            and any(e["event_type"] == "dns" for e in evs)

    harness.wait_until(recorded, 15, interval=0.2, what="the events in the installed JSON file")

    # the capture worker, under the unit's sandbox, recorded that session as the client made it
    def session():
        r = m.exec(["/usr/local/bin/sinktrap", "sessions", "-c", CONF, "--port", "4444",
                    "--json"], check=False)
        rows = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        return rows[0] if len(rows) == 1 else None

    ses = harness.wait_until(session, 30, interval=0.5, what="the captured session")
    assert ses["dest_ip"] == addr and ses["state"] == "closed", ses
    r = m.exec(["/usr/local/bin/sinktrap", "pcap", "-c", CONF, "--session", ses["flow_id"],
                "-w", "/var/lib/sinktrap/s.pcap"])
    pkts = run(["tcpdump", "-nr", m.path("/var/lib/sinktrap/s.pcap")]).stdout.splitlines()
    assert len(pkts) >= 6 and all(f"{addr}.4444" in x for x in pkts), pkts

    # the journal: each line with its priority, nothing above info after a clean start
    recs = m.journal()
    serving = [j for j in recs if "serving on" in j.get("MESSAGE", "")]
    assert serving and all(j["PRIORITY"] == "6" for j in serving), serving[:3]
    assert not [j for j in recs if int(j.get("PRIORITY", "6")) <= 4
                and j.get("_PID") != "1"], [j["MESSAGE"] for j in recs][-30:]

    # systemctl reload takes a list change
    with open(m.path(LIST), "a") as f:
        f.write("0.0.0.0 added-at-reload.example\n")
    m.exec(["systemctl", "reload", "sinktrap.service"])

    def added():
        got = dig(topo, TRAP_IP, "added-at-reload.example")
        return len(got) == 1 and ipaddress.ip_address(got[0]) in POOL4

    harness.wait_until(added, 20, interval=0.2, what="the reloaded list")

    # a killed main process: systemd starts it again, and the domain keeps its address
    m.exec(["kill", "-9", str(main_pid)])

    def restarted():
        s = m.show("ActiveState", "MainPID", "NRestarts")
        return s["ActiveState"] == "active" and s["NRestarts"] == "1" \
            and s["MainPID"] not in ("0", str(main_pid))

    harness.wait_until(restarted, 60, interval=0.3, what="systemd restarting sinktrap")
    assert dig(topo, TRAP_IP, "malware.example") == [addr]

    # a broken configuration: ExecStartPre refuses it with FILE:LINE, in the journal
    conf = m.path(CONF).read_text()
    lines = conf.splitlines()
    at = lines.index("[dns]") + 2  # the line after [dns] (1-based)
    m.path(CONF).write_text("\n".join(lines[:at - 1] + ["ttl = soon"] + lines[at - 1:]) + "\n")
    since = m.exec(["date", "+%s.%N"]).stdout.strip()
    r = m.exec(["systemctl", "restart", "sinktrap.service"], check=False)
    assert r.returncode != 0
    msgs = [j.get("MESSAGE", "") for j in m.journal("--since", f"@{since}")]
    assert any(x.startswith(f"{CONF}:{at}: ") and "ttl" in x for x in msgs), msgs[-20:]

    # tried again a few times, then left failed (not restarted every 2 s for ever)
    def given_up():
        s = m.show("ActiveState", "Result")
        return s["ActiveState"] == "failed" and s

    try:
        harness.wait_until(given_up, 40, interval=0.5, what="systemd giving up")
    except harness.Timeout:
        raise AssertionError(f"still tried: {m.show('ActiveState', 'SubState', 'NRestarts')}")
    tries = m.show("NRestarts")["NRestarts"]
    time.sleep(3)
    assert m.show("ActiveState", "NRestarts") == {"ActiveState": "failed", "NRestarts": tries}
    m.path(CONF).write_text(conf)
    m.exec(["systemctl", "reset-failed", "sinktrap.service"], check=False)
    m.exec(["systemctl", "start", "sinktrap.service"], timeout=120)
    assert m.show("ActiveState")["ActiveState"] == "active"
    assert dig(topo, TRAP_IP, "malware.example") == [addr]

    # systemctl stop: a clean exit, the ruleset and routes taken away
    m.exec(["systemctl", "stop", "sinktrap.service"], timeout=120)
    s = m.show("ActiveState", "Result", "ExecMainStatus")
    assert s == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}, s
    assert "sinktrap" not in m.exec(["ps", "-e", "-o", "comm="]).stdout
    assert "sinktrap" not in topo.exec(topo.trap, ["nft", "list", "tables"]).stdout
    assert "10.66.0.0/16" not in topo.exec(topo.trap, ["ip", "route", "show", "table",
                                                      "local"]).stdout
    recs = m.journal()
    reports = harness.sanitizer_lines("\n".join(j.get("MESSAGE", "") for j in recs
                                                if isinstance(j.get("MESSAGE"), str)))
    assert not reports, "sanitizer reports in the journal:\n" + "\n".join(reports)
