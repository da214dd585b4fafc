"""Who may use the page: the users and tokens files as `sinktrap run` prepares
them, sessions that end when `sinktrap passwd` removes their user or changes
the password, and the session cookie renewed while the analyst works."""

import grp
import os
import pwd
import stat
import subprocess
import time

import pytest

import harness
import webenv

COOKIE = "sinktrap_session"
TTL = 8 * 3600
RENEW = 60  # the cookie is sent again once a use has moved the session's end this far


@pytest.fixture(scope="module")
def auth(mres):
    st, base, _ = webenv.start(mres)
    # Signed in first: test_cookie_renewed_while_in_use, the last here, uses it a
    # minute later (the other tests meanwhile).
    early = webenv.Client(base)
    assert early.login()[0] == 200
    return {"st": st, "base": base, "early": early, "signed_in": time.monotonic()}


def passwd(st, *args, password=None):
    """`sinktrap passwd -c CONF ARGS` (the password on stdin)."""
    r = subprocess.run([str(st.bin), "passwd", "-c", str(st.write_conf())] + list(args),
                       input=password or "", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def signed_in(c):
    return c.get("/api/stats")[0] == 200 and c.get("/api/session")[0] == 200


def test_removed_user_is_signed_out(auth):
    st = auth["st"]
    passwd(st, "second", password="second's password")
    c, other = webenv.Client(auth["base"]), webenv.Client(auth["base"])
    assert c.login("second", "second's password")[0] == 200
    assert other.login()[0] == 200
    assert signed_in(c)
    passwd(st, "-D", "second")
    st_, j = c.get("/api/stats")
    assert st_ == 401, j
    assert c.get("/api/session")[0] == 401
    assert b"login-form" in c.get("/", raw=True)[2]  # sent to the sign-in page
    assert c.login("second", "second's password")[0] == 401
    # The others' lines did not change: their sessions go on.
    assert signed_in(other)
    assert "second's session ended" in st.log()


def test_new_password_signs_out(auth):
    st = auth["st"]
    passwd(st, "third", password="the old one")
    c, other = webenv.Client(auth["base"]), webenv.Client(auth["base"])
    assert c.login("third", "the old one")[0] == 200
    assert other.login()[0] == 200
    passwd(st, "third", password="the new one")
    assert c.get("/api/stats")[0] == 401
    # Once ended, a session stays ended whatever the file says later.
    assert c.get("/api/session")[0] == 401
    assert signed_in(other)
    assert c.login("third", "the new one")[0] == 200
    assert signed_in(c)
    # The same password again is a new line (a new salt): signed out too.
    passwd(st, "third", password="the new one")
    assert c.get("/api/stats")[0] == 401
    assert signed_in(other)


def test_cookie_sent_at_sign_in_only_at_first(auth):
    c = webenv.Client(auth["base"])
    st_, hdrs, _ = c.request("POST", "/api/login",
                             {"username": webenv.USER, "password": webenv.PASSWORD}, raw=True)
    assert st_ == 200
    assert f"Max-Age={TTL}" in hdrs["Set-Cookie"]
    # Right after the sign-in the browser's cookie is fresh: not sent again.
    for path in ("/api/stats", "/api/session", "/"):
        st_, hdrs, _ = c.get(path, raw=True)
        assert st_ == 200 and hdrs["Set-Cookie"] is None, path


def owner_mode(path):
    s = os.lstat(path)
    return s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode)


@pytest.mark.parametrize("kind", ["file", "symlink", "hardlink", "fifo", "tokens-symlink"])
def test_users_file_that_is_not_a_plain_file_is_left_alone(res, kind):
    """`sinktrap run` gives the users and tokens files to the workers' group. The
    files usually sit in state_dir, which the workers' user owns: a link there
    to a file only root may read must not make that file readable by them."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the parent changes the files' group only as root")
    secret = res.path("secret")
    secret.write_text("root:$6$only-root-may-read-this:19000:0:99999:7:::\n")
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    users, tokens = res.path("users"), res.path("tokens")
    users.write_text("")
    tokens.write_text("")
    named = tokens if kind.startswith("tokens") else users
    named.unlink()
    if kind == "file":
        named.write_text("")
        os.chmod(named, 0o644)
    elif kind.endswith("symlink"):
        named.symlink_to(secret)
    elif kind == "hardlink":
        os.link(secret, named)
    else:
        os.mkfifo(named, 0o600)
    st, base, _ = webenv.start(res, users=users, tokens=tokens)
    group = grp.getgrgid(pwd.getpwnam(st.conf["sinktrap"].get("user", "nobody")).pw_gid)
    log = st.log()
    key = "tokens" if named == tokens else "users"
    if kind == "file":
        assert owner_mode(named)[1:] == (group.gr_gid, 0o640)
        assert f"[web] {key} {named}" not in log
        return
    assert owner_mode(secret) == (0, 0, 0o600), log
    why = {"symlink": "a symbolic link", "tokens-symlink": "a symbolic link",
           "hardlink": "a file with 2 names (hard links)",
           "fifo": "not a regular file (a FIFO)"}[kind]
    assert f"[web] {key} {named}: {why}" in log, log
    if kind == "fifo":
        assert stat.S_ISFIFO(os.lstat(named).st_mode)
        assert owner_mode(named)[1:] == (0, 0o600)


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_passwd_does_not_rewrite_through_a_link(res, kind):
    """`sinktrap passwd` copies the users file's other lines, owner and mode into
    the new file: through a link it would copy another file (which `sinktrap
    run` would then give to the workers' group)."""
    secret = res.path("secret")
    secret.write_text("root:$6$only-root-may-read-this:19000:0:99999:7:::\n")
    os.chmod(secret, 0o600)
    users = res.path("users")
    if kind == "symlink":
        users.symlink_to(secret)
    else:
        os.link(secret, users)
    r = subprocess.run([str(harness.sinktrap_bin()), "passwd", "-f", str(users), "newuser"],
                       input="a password", capture_output=True, text=True, timeout=30)
    why = "a symbolic link" if kind == "symlink" else "a file with 2 names (hard links)"
    assert r.returncode == 1 and f"passwd: {users}: {why}" in r.stderr, r.stderr
    assert users.is_symlink() == (kind == "symlink")
    assert secret.read_text().startswith("root:$6$") and "newuser" not in secret.read_text()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert [p.name for p in res.dir.iterdir() if p.name.startswith("users.")] == []


# Last here: it waits until a minute has passed since the module's first sign-in.
def test_cookie_renewed_while_in_use(auth):
    """The session lasts 8 hours from its last use: the browser's cookie is given
    that much again (at most once a minute), so that it does not drop it 8 hours
    after the sign-in while the analyst is at work."""
    c = auth["early"]
    sid = [k.value for k in c.jar if k.name == COOKIE]
    assert len(sid) == 1
    time.sleep(max(0.0, auth["signed_in"] + RENEW + 1.5 - time.monotonic()))
    st_, hdrs, _ = c.get("/api/stats", raw=True)
    assert st_ == 200
    cookie = hdrs["Set-Cookie"]
    assert cookie is not None
    attrs = dict(a.strip().partition("=")[::2] for a in cookie.split(";"))
    assert attrs[COOKIE] == sid[0]  # the same session, kept longer
    assert TTL - 5 <= int(attrs["Max-Age"]) <= TTL
    assert "HttpOnly" in attrs and attrs["SameSite"] == "Strict" and attrs["Path"] == "/"
    assert hdrs["Cache-Control"] == "no-store"
    # Renewed: the next use does not send it again.
    st_, hdrs, _ = c.get("/api/stats", raw=True)
    assert st_ == 200 and hdrs["Set-Cookie"] is None
    assert signed_in(c)
