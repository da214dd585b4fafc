"""sinktrap installed as a service started at boot.

`make install` lays down the binary, a systemd unit, a configuration for a
dedicated sinkhole host and the workers' system user. The unit's own command
lines are then run the way systemd runs them (Type=notify: READY=1 on
$NOTIFY_SOCKET; ExecStartPre, ExecStart, ExecReload with $MAINPID, then RELOADING=1 and
READY=1, SIGTERM to the main process, ExecStopPost), inside a network namespace this test
makes:

    client (10.99.0.1) --veth-- sinkhole host (10.99.0.2 | 10.98.0.1) --veth-- resolver (10.98.0.2:53)

The administrator's one edit is naming the capture interface (the sinkhole
host's side of the client link). The sinkhole host's /etc/resolv.conf (the installed configuration's
`upstream = system`) names the resolver, through /etc/netns/NAME/resolv.conf,
which `ip netns exec` mounts over it. Everything is installed below a
temporary directory (PREFIX, SYSCONFDIR, LOCALSTATEDIR, UNITDIR), and removed
with the user afterwards.
"""

import ipaddress
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "trap"))

import harness  # noqa: E402
import trapenv  # noqa: E402
from trapenv import CLIENT_IP, TRAP_IP  # noqa: E402

from installenv import POOL4, dig, json_events, make, serves_the_client  # noqa: E402

USER = "sinktrap-e2e"
PLACEHOLDER = re.compile(r"@[A-Z]+@")


class Installed:
    def __init__(self, root):
        self.root = root
        self.lay = {"PREFIX": root / "usr", "SYSCONFDIR": root / "etc",
                    "LOCALSTATEDIR": root / "var", "UNITDIR": root / "unit",
                    "SINKTRAP_USER": USER}
        self.bin = root / "usr/bin/sinktrap"
        self.unit = root / "unit/sinktrap.service"
        self.confdir = root / "etc/sinktrap"
        self.conf = self.confdir / "sinktrap.conf"
        self.docdir = root / "usr/share/doc/sinktrap"
        self.statedir = root / "var/lib/sinktrap"
        self.logdir = root / "var/log/sinktrap"

    def commands(self):
        """{Exec key: [argv, ...]} of the unit, in file order."""
        cmds = {}
        for line in self.unit.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.startswith("Exec"):
                cmds.setdefault(key, []).append(shlex.split(value))
        return cmds


def drop_user():
    subprocess.run(["userdel", USER], capture_output=True)
    subprocess.run(["groupdel", USER], capture_output=True)


@pytest.fixture(scope="module")
def inst():
    if os.geteuid() != 0:
        pytest.fail("installing needs root (a system user, file owners)")
    drop_user()  # one a killed earlier run left
    # the workers' user must reach its directories: no 0700 on the way
    root = Path(tempfile.mkdtemp(prefix="sinktrap-install-"))
    root.chmod(0o755)
    i = Installed(root)
    try:
        i.first = make("install", i.lay)
        yield i
    finally:
        make("uninstall", i.lay, check=False)
        drop_user()
        shutil.rmtree(root, ignore_errors=True)


def mode(p):
    return stat.S_IMODE(p.stat().st_mode)


def test_install_lays_down_a_service(inst):
    assert inst.bin.is_file() and mode(inst.bin) == 0o755
    r = subprocess.run([inst.bin, "version"], capture_output=True, text=True)
    assert r.returncode == 0 and "sinktrap" in r.stdout
    for f in (inst.unit, inst.conf, inst.confdir / "lists/example.hosts",
              inst.docdir / "README.md", inst.docdir / "configuration.md",
              inst.docdir / "deployment.md"):
        assert f.is_file(), f"{f} not installed:\n{inst.first.stdout}"
    for f in (inst.unit, inst.conf):
        text = f.read_text()
        assert not PLACEHOLDER.search(text), f"{f} keeps a placeholder: {PLACEHOLDER.search(text)}"
    conf = inst.conf.read_text()
    assert f"state_dir = {inst.statedir}\n" in conf
    assert f"user = {USER}\n" in conf
    assert f"json = {inst.logdir}/events.json\n" in conf

    # the workers' user: a system account that cannot log in, owning the state
    pw = pwd.getpwnam(USER)
    assert pw.pw_uid < 1000 and pw.pw_shell in ("/usr/sbin/nologin", "/bin/false")
    for d in (inst.statedir, inst.logdir):
        st = d.stat()
        assert (st.st_uid, st.st_gid, mode(d)) == (pw.pw_uid, pw.pw_gid, 0o750), d

    # the configuration is valid as installed, and the unit is one systemd accepts
    r = subprocess.run([inst.bin, "check-config", "-c", inst.conf], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.strip() == "configuration OK", r.stdout + r.stderr
    r = subprocess.run(["systemd-analyze", "verify", str(inst.unit)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "sinktrap.service" not in r.stderr, r.stderr
    unit = inst.unit.read_text()
    assert "Type=notify" in unit
    assert f"Documentation=file://{inst.docdir}/README.md" in unit
    cmds = inst.commands()
    assert [c[0] for c in cmds["ExecStart"]] == [str(inst.bin)]
    assert cmds["ExecStart"][0][1:] == ["run", "-c", str(inst.conf)]


def test_the_units_commands_run_a_sinkhole(inst, host, tmp_path):
    topo = host
    cmds = inst.commands()
    in_host = ["ip", "netns", "exec", topo.trap]
    # The administrator names the interface the internal hosts come in on (and, for
    # this test, lets a closed TCP session end 2 s after its FIN instead of 60 s).
    original = inst.conf.read_text()
    # (the one section the installed file leaves off)
    assert original.count("enabled = no\n") == 1 and "# interface = eth0\n" in original
    inst.conf.write_text(original.replace("enabled = no\n", "enabled = yes\n").replace(
        "# interface = eth0\n", f"interface = {topo.v_trap_c}\ntcp_closed_timeout = 2s\n"))
    try:
        run_service(inst, topo, cmds, in_host, tmp_path)
    finally:
        inst.conf.write_text(original)


def run_service(inst, topo, cmds, in_host, tmp_path):
    # A host that resolves through its own sinkhole: `upstream = system` would
    # forward every unlisted name back to sinktrap. The unit's check refuses it.
    resolv = Path("/etc/netns") / topo.trap / "resolv.conf"
    good = resolv.read_text()
    resolv.write_text(f"nameserver {TRAP_IP}\n")
    r = trapenv.run(in_host + cmds["ExecStartPre"][0])
    resolv.write_text(good)
    assert r.returncode != 0
    line = inst.conf.read_text().splitlines().index("upstream = system") + 1
    assert (f"{inst.conf}:{line}: upstream {TRAP_IP}:53 (from /etc/resolv.conf) is sinktrap's own "
            "listener 0.0.0.0:53") in r.stdout + r.stderr, r.stdout + r.stderr
    for argv in cmds["ExecStartPre"]:
        r = trapenv.run(in_host + argv, timeout=60)
        assert r.returncode == 0, f"{argv}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "inet sinktrap" in topo.exec(topo.trap, ["nft", "list", "tables"], check=True).stdout

    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(60)
    (start,) = cmds["ExecStart"]
    main = harness.Proc(in_host + ["env", f"NOTIFY_SOCKET={notify_path}"] + start,
                        tmp_path / "service.log")
    try:
        # Type=notify: the service is up when it says so, and then it serves at once
        msg = sock.recv(4096).decode()
        assert "READY=1" in msg.split("\n"), msg
        # the client resolves through it and the trap catches its connection on any port
        addr = serves_the_client(topo, 8088)

        # the capture in front of the trap: the session as the client made it (port 8088,
        # before the redirect), and its packets back as PCAP, from the installed spool
        def session():
            r = trapenv.run(in_host + [inst.bin, "sessions", "-c", inst.conf, "--host", CLIENT_IP,
                                       "--port", "8088", "--json"])
            rows = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
            return rows[0] if len(rows) == 1 else None

        try:
            ses = harness.wait_until(session, 30, interval=0.5, what="the captured session")
        except harness.Timeout:
            r = trapenv.run(in_host + [inst.bin, "sessions", "-c", inst.conf, "--limit", "0"])
            raise AssertionError(f"no session to {addr}:8088 from {CLIENT_IP}; all sessions:\n"
                                 f"{r.stdout}{r.stderr}\nlog:\n{main.log()[-4000:]}")
        assert ses["dest_ip"] == addr and ses["community_id"].startswith("1:"), ses
        out = tmp_path / "session.pcap"
        trapenv.run(in_host + [inst.bin, "pcap", "-c", inst.conf, "--session",
                               str(ses["flow_id"]), "-w", out], check=True)
        r = trapenv.run(["tcpdump", "-nr", out], check=True)
        pkts = r.stdout.splitlines()
        assert len(pkts) >= 6 and all(f"{addr}.8088" in x for x in pkts), r.stdout

        # the parent keeps root, every worker runs as the installed user
        pw = pwd.getpwnam(USER)
        assert harness.proc_status(main.pid)["Uid"].split()[0] == "0"
        workers = harness.children(main.pid)
        assert {"sinktrap-dns", "sinktrap-trap", "sinktrap-store", "sinktrap-web",
                "sinktrap-captur"} <= set(workers), workers  # comm: 15 characters
        for comm, pid in workers.items():
            uids = harness.proc_status(pid)["Uid"].split()
            assert uids == [str(pw.pw_uid)] * 4, f"{comm} runs as {uids}"

        # recorded: JSON in the log directory, SQLite in the state directory
        def recorded():
            evs = json_events(inst.logdir / "events.json")
            dns = [e for e in evs if e["event_type"] == "dns"
                   and e["dns"]["rrname"] == "malware.example"]
            trap = [e for e in evs if e["event_type"] == "trap" and e.get("dest_ip") == addr
                    and e.get("src_ip") == CLIENT_IP]
            return dns and trap

        harness.wait_until(recorded, 15, interval=0.1, what="the dns and trap events in JSON")
        db = inst.statedir / "sinktrap.db"
        assert db.stat().st_uid == pw.pw_uid
        assert (inst.logdir / "events.json").stat().st_uid == pw.pw_uid

        def stored():
            c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                return c.execute("SELECT count(*) FROM events WHERE event_type = 'dns' "
                                 "AND domain = 'malware.example'").fetchone()[0] >= 1
            finally:
                c.close()

        harness.wait_until(stored, 15, interval=0.2, what="the dns event in SQLite")

        # the administrator's commands on the installed layout
        r = trapenv.run([inst.bin, "check", "-c", inst.conf, "malware.example"])
        assert r.returncode == 0 and f"{inst.confdir}/lists/example.hosts:" in r.stdout, r.stdout
        r = trapenv.run([inst.bin, "status", "-c", inst.conf, "--json"], check=True)
        sinks = {x["name"] for x in json.loads(r.stdout)["sinks"]}
        assert {"json", "sqlite"} <= sinks, r.stdout
        r = trapenv.run([inst.bin, "report", "-c", inst.conf, "--host", CLIENT_IP], check=True)
        assert "malware.example" in r.stdout and addr in r.stdout, r.stdout

        # the administrator adds a web user to the running service; the web worker,
        # as the installed user, reads the new users file at the sign-in
        r = trapenv.run(in_host + [inst.bin, "passwd", "-c", inst.conf, "analyst"],
                        input="correct horse battery\n", check=True)
        users = inst.confdir / "web-users"
        assert users.stat().st_gid == pw.pw_gid and mode(users) == 0o640
        login = json.dumps({"username": "analyst", "password": "correct horse battery"})
        jar = tmp_path / "cookies"
        r = topo.exec(topo.trap, ["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                                  "%{http_code}", "-c", jar, "-H",
                                  "Content-Type: application/json", "--data", login,
                                  "http://127.0.0.1:8080/api/login"], timeout=20)
        assert r.stdout == "200", f"sign-in: {r.stdout} {r.stderr}"
        # and finds the captured session on the page and pulls its packets: what the CLI wrote
        r = topo.exec(topo.trap, ["curl", "-sS", "--max-time", "10", "-b", jar,
                                  f"http://127.0.0.1:8080/api/sessions?host={CLIENT_IP}&port=8088"],
                      timeout=20, check=True)
        items = json.loads(r.stdout)["items"]
        assert [str(x["flow_id"]) for x in items] == [str(ses["flow_id"])], r.stdout
        web_pcap = tmp_path / "web-session.pcap"
        r = topo.exec(topo.trap, ["curl", "-sS", "--max-time", "10", "-b", jar, "-o", web_pcap,
                                  "-w", "%{http_code}",
                                  f"http://127.0.0.1:8080/api/sessions/{items[0]['flow_id']}/pcap"],
                      timeout=20)
        assert r.stdout == "200", f"pcap download: {r.stdout} {r.stderr}"
        assert web_pcap.read_bytes() == out.read_bytes()

        # ExecReload: a name added to the list is sinkholed after it
        assert dig(topo, TRAP_IP, "added.example") == []
        with open(inst.confdir / "lists/example.hosts", "a") as f:
            f.write("0.0.0.0 added.example\n")
        (reload,) = cmds["ExecReload"]
        r = trapenv.run([a.replace("$MAINPID", str(main.pid)) for a in reload], check=True)

        def added():
            got = dig(topo, TRAP_IP, "added.example")
            return len(got) == 1 and ipaddress.ip_address(got[0]) in POOL4

        # the service said it was reloading, and ready once the new list answers
        assert sock.recv(4096).decode().split("\n")[0] == "RELOADING=1"
        msg = sock.recv(4096).decode().split("\n")
        assert msg[0] == "READY=1" and "STATUS=serving (lists reloaded)" in msg, msg
        assert added()
        assert main.alive()

        # stop as systemd does (KillMode=mixed: SIGTERM to the main process)
        os.kill(main.pid, signal.SIGTERM)
        rc = main.wait(90)
        assert rc == 0, f"stopped with {rc}:\n{main.log()[-3000:]}"
        assert "STOPPING=1" in sock.recv(4096).decode()
        assert trapenv.run(["ip", "netns", "pids", topo.trap]).stdout.strip() == "", \
            "a worker outlived the stop"
        for argv in cmds["ExecStopPost"]:
            trapenv.run(in_host + argv, check=True)
        assert "sinktrap" not in topo.exec(topo.trap, ["nft", "list", "tables"]).stdout
        assert "10.66.0.0/16" not in topo.exec(topo.trap, ["ip", "route", "show", "table",
                                                          "local"]).stdout
        log = main.log()
        assert "ready: every worker is up" in log
        reports = harness.sanitizer_lines(log)
        assert not reports, "sanitizer reports in the service's log:\n" + "\n".join(reports)
    finally:
        main.kill_all()
        sock.close()


def test_reinstall_keeps_the_administrators_files_and_uninstall_keeps_the_state(inst):
    edited = inst.conf.read_text().replace("ttl = 300", "ttl = 60")
    assert edited != inst.conf.read_text()
    inst.conf.write_text(edited)
    marker = inst.statedir / "kept-marker"
    marker.write_text("state\n")

    r = make("install", inst.lay)
    assert inst.conf.read_text() == edited, "install overwrote the configuration"
    dist = inst.confdir / "sinktrap.conf.dist"
    assert dist.read_text().replace("ttl = 300", "ttl = 60") == edited
    assert "sinktrap.conf kept" in r.stdout

    make("uninstall", inst.lay)
    for gone in (inst.bin, inst.unit, inst.docdir):
        assert not gone.exists(), f"{gone} left after uninstall"
    for kept in (inst.conf, inst.confdir / "lists/example.hosts", marker, inst.logdir):
        assert kept.exists(), f"{kept} removed by uninstall"
    pwd.getpwnam(USER)  # the user too: files in the state belong to it


def test_staged_install_for_packaging(tmp_path):
    """DESTDIR: files below it, paths inside them as on the target; no user, no chown."""
    dest = tmp_path / "stage"
    make("install", {"DESTDIR": dest, "SINKTRAP_USER": "sinktrap-e2e-none"})
    unit = (dest / "etc/systemd/system/sinktrap.service").read_text()
    assert "ExecStart=/usr/local/bin/sinktrap run -c /etc/sinktrap/sinktrap.conf" in unit
    conf = (dest / "etc/sinktrap/sinktrap.conf").read_text()
    assert "state_dir = /var/lib/sinktrap\n" in conf
    assert "user = sinktrap-e2e-none\n" in conf
    assert (dest / "usr/local/bin/sinktrap").is_file()
    assert (dest / "var/lib/sinktrap").is_dir()
    with pytest.raises(KeyError):
        pwd.getpwnam("sinktrap-e2e-none")
