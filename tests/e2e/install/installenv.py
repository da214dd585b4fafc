"""What the install tests share: `make install`, and the network a sinkhole host
sits in (the fixture `host` of conftest.py).

    client (10.99.0.1) --veth-- sinkhole host (10.99.0.2 | 10.98.0.1) --veth-- resolver (10.98.0.2:53)

The resolver (dnsmasq) answers benign.example with its own address; the
sinkhole host's /etc/resolv.conf names it through /etc/netns/NAME/resolv.conf,
which `ip netns exec` mounts over the file.
"""

import contextlib
import ipaddress
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "trap"))

import harness  # noqa: E402
import trapenv  # noqa: E402
from trapenv import OUTSIDE_IP, TRAP_IP, TRAP_IP6  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
# the installed configuration's pools
POOL4 = ipaddress.ip_network("10.66.0.0/16")
POOL6 = ipaddress.ip_network("fd66::/64")


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




def json_events(path):
    """The whole lines of a JSON events file (the store may be writing the last)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(x) for x in text[:text.rfind("\n") + 1].splitlines() if x.strip()]


def serves_the_client(topo, port):
    """The installed sinkhole as the client meets it: listed names get pool addresses
    over IPv4 and IPv6, unlisted ones the resolver's answer (upstream = system), and the
    trap answers HTTP on PORT of the address. Returns that IPv4 address."""
    addr = dig(topo, TRAP_IP, "malware.example")
    assert len(addr) == 1 and ipaddress.ip_address(addr[0]) in POOL4, addr
    addr6 = dig(topo, TRAP_IP6, "c2.botnet.example", "AAAA")
    assert len(addr6) == 1 and ipaddress.ip_address(addr6[0]) in POOL6, addr6
    assert dig(topo, TRAP_IP, "benign.example") == [OUTSIDE_IP]
    r = topo.exec(topo.client, ["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                                "%{http_code}", f"http://{addr[0]}:{port}/gate.php"], timeout=20)
    assert r.stdout == "200", f"curl rc={r.returncode}: {r.stderr}"
    return addr[0]
