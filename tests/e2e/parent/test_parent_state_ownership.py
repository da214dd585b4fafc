"""The parent (root) gives the state directory's files to the workers' user at each
start, in directories that user can write. A compromised worker can leave anything
there for the next start: a symbolic link in place of the database's -shm file, of
the JSON file, of the payloads, CA or capture spool directory must not hand what it
points to (/etc/shadow, /root) to the workers' user, nor make files in it. A state
directory others can write (/tmp) or one that is not sinktrap's (/var/lib) is refused
at start, and not given away."""

import os
import stat

import pytest

import harness

NOBODY = 65534


@pytest.fixture(autouse=True)
def _root():
    if os.geteuid() != 0:
        pytest.skip("the workers' user is only taken as root")


def owner_mode(p):
    st = os.lstat(p)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def victim_file(path):
    """A root file outside the state directory (standing for /etc/shadow)."""
    path.write_text("root:secret\n")
    os.chmod(path, 0o600)
    return path


def victim_dir(path):
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)
    return path


def conf_with_everything(res, state):
    """DNS, the store with SQLite and the JSON file, the trap (payloads, CA) and the
    capture (its spool): everything the parent prepares in the state directory."""
    trap_port = harness.free_port(v6=False)
    return {
        "sinktrap": {"state_dir": str(state)},
        "events": {"json": str(state / "events.json"), "sqlite": "yes"},
        "trap": {"enabled": "yes", "listen": "127.0.0.1", "ports": trap_port},
        "capture": {"enabled": "yes", "interface": "lo", "filter": "udp port 9"},
    }


def test_links_planted_in_the_state_directory_are_not_followed(res):
    """Every place the parent gives to the workers' user holds a link to a root
    file or directory: none of them changes owner or mode, nothing is made in
    them, and the log says what was refused and why."""
    w = res.dir
    state = w / "state"
    state.mkdir(mode=0o750)
    os.chown(state, NOBODY, NOBODY)  # as `make install` makes it
    files = {name: victim_file(w / f"victim-{name}")
             for name in ("sinktrap.db-shm", "sinktrap.db-wal", "events.json")}
    dirs = {name: victim_dir(w / f"victim-{name}") for name in ("payloads", "ca", "pcap")}
    for name, target in {**files, **dirs}.items():
        os.symlink(target, state / name)
    before = {p: owner_mode(p) for p in [*files.values(), *dirs.values()]}

    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap(conf_with_everything(res, state), upstream=up, start=False)
    st.start(wait=False)
    harness.wait_until(lambda: "local CA" in st.log() and "started capture worker" in st.log(),
                       20, what="the parent to prepare the trap and the capture")
    st.stop()

    for p, om in before.items():
        assert owner_mode(p) == om, f"{p} was changed: {owner_mode(p)}, was {om}"
    for name, target in files.items():
        assert target.read_text() == "root:secret\n", f"{target} was written"
    for name, target in dirs.items():
        assert os.listdir(target) == [], f"files made in {target}: {os.listdir(target)}"
        assert (state / name).is_symlink()
    log = st.log()
    for name in ("sinktrap.db-shm", "sinktrap.db-wal", "events.json", "payloads", "pcap"):
        assert (f"{state / name}: not given to user nobody: it is a symbolic link "
                f"(to {w / ('victim-' + name)})") in log, log
    assert f"local CA {state / 'ca'}: refused: 'ca' is a symbolic link" in log, log


def test_a_hard_link_in_the_state_directory_is_not_given_away(res):
    state = res.dir / "state"
    state.mkdir(mode=0o750)
    os.chown(state, NOBODY, NOBODY)
    victim = victim_file(res.dir / "victim")
    os.link(victim, state / "sinktrap.db-shm")
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"sinktrap": {"state_dir": str(state)}}, upstream=up)
    st.stop()
    assert owner_mode(victim) == (0, 0, 0o600)
    assert f"{state / 'sinktrap.db-shm'}: not given to user nobody: it has 2 hard links" \
        in st.log()


def test_the_state_directory_through_a_planted_link_is_not_taken(res):
    """state_dir = /srv/sinktrap/state where /srv/sinktrap is the workers' user's:
    a link planted in place of `state` is refused, not given away."""
    base = res.dir / "base"
    base.mkdir(mode=0o750)
    os.chown(base, NOBODY, NOBODY)
    victim = victim_dir(res.dir / "victim")
    os.symlink(victim, base / "state")
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"sinktrap": {"state_dir": str(base / "state")}}, upstream=up,
                      start=False)
    st.start(wait=False)
    assert st.proc.wait(20) == 1, st.log()
    assert owner_mode(victim) == (0, 0, 0o700)
    assert os.listdir(victim) == []
    assert (f"state_dir {base / 'state'}: refused: 'state' is a symbolic link (to {victim})"
            in st.log()), st.log()


@pytest.mark.parametrize("mode", [0o1777, 0o777, 0o770])
def test_a_state_directory_others_can_write_is_refused(res, mode):
    """state_dir = /tmp (or any directory other users can write): refused with a
    clear message, and left as it was (not handed to the workers' user)."""
    shared = res.dir / "shared"
    shared.mkdir()
    os.chmod(shared, mode)
    os.chown(shared, 0, 4242)  # a group that is not the workers'
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"sinktrap": {"state_dir": str(shared)}}, upstream=up, start=False)
    st.start(wait=False)
    assert st.proc.wait(20) == 1, st.log()
    assert owner_mode(shared) == (0, 4242, mode)
    assert (f"state_dir {shared}: refused: other users can write in it (mode {mode:04o}"
            in st.log()), st.log()
    assert os.listdir(shared) == []


def test_a_root_directory_that_is_not_sinktraps_is_not_given_away(res):
    """state_dir = /var/lib (a typo): root's, holding other things: refused, kept."""
    lib = res.dir / "lib"
    lib.mkdir(mode=0o755)
    (lib / "dpkg").mkdir()
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"sinktrap": {"state_dir": str(lib)}}, upstream=up, start=False)
    st.start(wait=False)
    assert st.proc.wait(20) == 1, st.log()
    assert owner_mode(lib) == (0, 0, 0o755)
    assert f"state_dir {lib}: refused: it belongs to root and holds 'dpkg'" in st.log()


def test_an_earlier_root_state_directory_is_taken_over(res):
    """Upgrades keep working: the directory an earlier start as root (or an
    administrator's mkdir) made, with sinktrap's files in it, is given to the
    workers' user, and so are its database files."""
    state = res.dir / "state"
    state.mkdir(mode=0o750)
    db = state / "sinktrap.db"
    db.write_bytes(b"")
    os.chmod(db, 0o644)
    bl = harness.write_list(res.path("up.plain"), ["upgrade.example"])
    up = res.dnsmasq(["address=/#/127.0.9.9"])
    st = res.sinktrap({"sinktrap": {"state_dir": str(state)}, "dns": {"blocklist": str(bl)}},
                      upstream=up)
    st.state_dir = state  # where its database is
    assert harness.a_records(st.query("upgrade.example"))
    ev = st.wait_dns_event("upgrade.example")[0]
    harness.wait_until(lambda: st.db_rows("SELECT 1 FROM events WHERE event_id = ?",
                                          (ev["event_id"],)), 10, what="the event in SQLite")
    st.stop()
    assert owner_mode(state)[:2] == (NOBODY, NOBODY)
    assert owner_mode(db)[:2] == (NOBODY, NOBODY)
    assert f"state_dir {state}: given to the workers' user nobody" in st.log()


def test_workers_keep_their_users_supplementary_groups(res):
    """A worker runs with its user's groups as a login gives them (a TLS key
    readable by group ssl-cert, say), group 0 left out; before, every
    supplementary group was dropped."""
    import grp
    import pwd
    import subprocess
    group, user = "sinktrap-tgrp", "sinktrap-tusr"
    for cmd in (["userdel", user], ["groupdel", group]):
        subprocess.run(cmd, capture_output=True)
    subprocess.run(["groupadd", "--system", group], check=True)
    st = None
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", "--user-group", "-G", f"{group},root", user],
                       check=True)
        gid = grp.getgrnam(group).gr_gid
        pw = pwd.getpwnam(user)
        # the JSON file in a directory the user writes through that group alone
        jdir = res.path("by-group")
        jdir.mkdir()
        os.chown(jdir, 0, gid)
        os.chmod(jdir, 0o770)
        st = res.sinktrap({"sinktrap": {"user": user}, "dns": {"mode": "allowlist"},
                           "events": {"json": str(jdir / "events.json")}})
        status = harness.proc_status(st.worker_pid("store"))
        groups = {int(g) for g in status["Groups"].split()}
        assert gid in groups, status
        assert 0 not in groups, status
        assert int(status["Uid"].split()[0]) == pw.pw_uid
        assert int(status["Gid"].split()[0]) == pw.pw_gid
        assert f"user '{user}' is in group 0: the workers leave it" in st.log()
        st.json_path = jdir / "events.json"
        st.query("grouped.test")
        st.wait_dns_event("grouped.test")
        assert "cannot write in the JSON file's directory" not in st.log()
    finally:
        if st is not None:
            st.close()  # no process of the user's left: userdel refuses then
        subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", group], capture_output=True)
