"""The local CA's files handed to the workers' user. Made as root in the state
directory, the CA directory and its two files (ca.key, ca.crt) are given to
that user; the leaf key lives in memory only and has no file, so a
leaf.key found there (left by someone, or planted) is no file of sinktrap's
and stays as it is."""

import os
import pwd

import harness

NOBODY = pwd.getpwnam("nobody").pw_uid  # the workers' user (the default)


def test_only_the_ca_files_are_given_to_the_workers_user(env):
    ca = env.st.state_dir / "ca"
    env.st.stop()
    leaf = ca / "leaf.key"
    leaf.write_bytes(b"root's own\n")
    os.chown(leaf, 0, 0)
    os.chmod(leaf, 0o600)
    env.st.start()
    harness.wait_until(lambda: env.trap_pid(), 10, what="trap worker")
    assert os.stat(ca / "ca.key").st_uid == NOBODY
    assert os.stat(ca / "ca.crt").st_uid == NOBODY
    st = os.stat(leaf)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o600)
    assert leaf.read_bytes() == b"root's own\n"
    leaf.unlink()
