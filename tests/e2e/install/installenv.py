"""What the install tests share: `make install`, and the network a sinkhole host
sits in (the fixture `host` of conftest.py).

    client (10.99.0.1) --veth-- sinkhole host (10.99.0.2 | 10.98.0.1) --veth-- resolver (10.98.0.2:53)

The resolver (dnsmasq) answers benign.example with its own address; the
sinkhole host's /etc/resolv.conf names it through /etc/netns/NAME/resolv.conf,
which `ip netns exec` mounts over the file.
"""

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "trap"))

import harness  # noqa: E402
import trapenv  # noqa: E402
from trapenv import OUTSIDE_IP  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def make(target, lay, check=True):
    args = [f"{k}={v}" for k, v in lay.items()]
    # the binary under test, wherever it was built
    args.append(f"BUILD={harness.sinktrap_bin().parent}")
    r = subprocess.run(["make", "-s", "-C", str(ROOT), target] + args, capture_output=True,
                       text=True, timeout=600)
    if check:
        assert r.returncode == 0, \
            f"make {target} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


@contextlib.contextmanager
def network(tmp_path):
    """The namespaces, the resolver and the sinkhole host's resolv.conf."""
    topo = trapenv.Topology().up()
    netns_etc = Path("/etc/netns") / topo.trap
    made_etc = not netns_etc.parent.exists()
    resolver = None
    try:
        netns_etc.mkdir(parents=True)
        (netns_etc / "resolv.conf").write_text(f"nameserver {OUTSIDE_IP}\n")
        conf = tmp_path / "resolver.conf"
        conf.write_text("\n".join([
            "port=53", f"listen-address={OUTSIDE_IP}", "bind-interfaces", "no-resolv",
            "no-hosts", "no-poll", f"pid-file={tmp_path / 'resolver.pid'}",
            f"address=/benign.example/{OUTSIDE_IP}"]) + "\n")
        resolver = harness.Proc(["ip", "netns", "exec", topo.outside, "dnsmasq", "-k",
                                 f"--conf-file={conf}"], tmp_path / "resolver.log")

        def resolver_up():
            r = topo.exec(topo.trap, ["dig", "+short", "+time=1", "+tries=1", f"@{OUTSIDE_IP}",
                                      "benign.example"])
            return r.stdout.split() == [OUTSIDE_IP]

        harness.wait_until(resolver_up, 15, interval=0.2, what="the resolver")
        yield topo
    finally:
        if resolver:
            resolver.kill_all()
        shutil.rmtree(netns_etc, ignore_errors=True)
        if made_etc:
            shutil.rmtree(netns_etc.parent, ignore_errors=True)
        topo.down()


def dig(topo, server, name, rdtype="A"):
    r = topo.exec(topo.client, ["dig", "+short", "+time=2", "+tries=2", f"@{server}", name,
                                rdtype], timeout=20)
    return r.stdout.split()


