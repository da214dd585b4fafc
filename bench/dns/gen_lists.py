#!/usr/bin/python3
"""Generate the DNS sinkhole benchmark data, reproducibly (fixed seed).

Writes into --out:
  big.hosts  big.unbound.conf  big.dnsmasq.conf  big.rpz      the --count-entry list
  small.hosts small.unbound.conf small.dnsmasq.conf small.rpz  the --small-entry list
  q-big-listed    (a) names on the big list, in random order
  q-big-sub       (b) subdomains of names on the big list
  q-unlisted-1    (c) names neither on the list nor below a listed name
  q-unlisted-2    (c) as many other such names (one file per load generator)
  q-small-listed  (a) and (b) for the small list
  q-small-sub
  meta.env        shell variables: probe names, counts, seed, digests

Every list says the same thing in each server's own syntax: the name and all
its subdomains answer A <sinkhole> with TTL 300.
  hosts    "0.0.0.0 name" (sinktrap: a hosts entry covers subdomains)
  unbound  local-zone: "name." redirect + local-data: "name. 300 IN A <ip>"
  dnsmasq  address=/name/<ip>
  rpz      "name A <ip>" and "*.name A <ip>" (Knot Resolver policy.rpz)
The small list is the first --small names of the big one.

Query files are in dnsperf format ("name A"). Only the standard library is
used, so any /usr/bin/python3 runs it.
"""

import argparse
import hashlib
import os
import random
import sys

TLDS = [
    ("com", 400), ("net", 70), ("org", 50), ("info", 30), ("ru", 50), ("cn", 30),
    ("top", 50), ("xyz", 40), ("io", 20), ("de", 20), ("co.uk", 20), ("biz", 20),
    ("online", 20), ("site", 20), ("club", 10), ("tk", 20), ("ml", 10), ("ga", 10),
    ("cf", 10), ("gq", 10), ("pw", 10), ("cc", 10), ("su", 10), ("com.br", 10),
    ("in", 10), ("jp", 10), ("fr", 10), ("it", 10), ("nl", 10), ("pl", 10), ("eu", 10),
    ("us", 10), ("me", 10), ("app", 10), ("shop", 10), ("live", 10), ("icu", 10),
    ("vip", 10), ("work", 10), ("com.cn", 5), ("co", 10), ("tv", 5), ("ws", 5),
]

WORDS = """
account ad ads adserv affiliate alert analytics api app apple auth bank banner best bet
bill billing bit block bonus box buy cash cdn center check cheap click cloud cms code coin
connect count counter crypto daily data deal delivery dev device direct docs download drive
easy edge express fast file finance flash free game gift global go gold good hub id img
info invoice ip key lab link live load login lucky mail market media metric mobile money
net news now offer office online page panel pay paypal pixel play plus point portal post
premium prize pro promo push quick rank redirect report reward safe sale scan search secure
send serv service shop sign site smart social soft spin stat stats status store stream
support sync tag team tech track tracker trade trust update upload verify video view vip
wallet watch web win world zone
""".split()

SUBS = """
www cdn api mail static img m app login secure track ads click stats go link auth portal
update dl download web media s3 edge px t a b c ns1 mx smtp
""".split()

LETTERS = "abcdefghijklmnopqrstuvwxyz"
ALNUM = LETTERS + "0123456789"


def tld_picker(rng):
    names = [t for t, _ in TLDS]
    weights = [w for _, w in TLDS]
    cum = []
    total = 0
    for w in weights:
        total += w
        cum.append(total)
    import bisect

    def pick():
        return names[bisect.bisect_right(cum, rng.random() * total)]

    return pick


def label_word(rng):
    n = rng.choice((1, 2, 2, 3))
    sep = rng.choice(("", "", "-"))
    s = sep.join(rng.choice(WORDS) for _ in range(n))
    if rng.random() < 0.25:
        s += str(rng.randrange(1, 1000))
    return s[:63]


def label_random(rng):
    # DGA-like: what malware families register by the thousand
    n = rng.randrange(8, 21)
    return "".join(rng.choice(LETTERS) for _ in range(n))


def label_mixed(rng):
    n = rng.randrange(4, 13)
    s = "".join(rng.choice(ALNUM) for _ in range(n))
    return s if s[0].isalpha() else "x" + s


def registered(rng, tld):
    r = rng.random()
    if r < 0.55:
        lab = label_word(rng)
    elif r < 0.85:
        lab = label_random(rng)
    else:
        lab = label_mixed(rng)
    return lab + "." + tld


def sublabel(rng):
    r = rng.random()
    if r < 0.6:
        return rng.choice(SUBS)
    if r < 0.8:
        return rng.choice(SUBS) + str(rng.randrange(1, 100))
    return label_mixed(rng)


def make_name(rng, pick_tld):
    """A name of 2 to 4 labels (a two-label TLD counts as two)."""
    tld = pick_tld()
    name = registered(rng, tld)
    labels = name.count(".") + 1
    r = rng.random()
    want = 2 if r < 0.45 else 3 if r < 0.85 else 4
    while labels < want:
        name = sublabel(rng) + "." + name
        labels += 1
    return name


def gen_listed(rng, count):
    pick_tld = tld_picker(rng)
    seen = set()
    out = []
    while len(out) < count:
        n = make_name(rng, pick_tld)
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out, seen


def covered(name, listed):
    """Whether name or one of its parents is on the list."""
    while True:
        if name in listed:
            return True
        dot = name.find(".")
        if dot < 0:
            return False
        name = name[dot + 1:]


def gen_unlisted(rng, count, listed):
    pick_tld = tld_picker(rng)
    out = []
    while len(out) < count:
        n = make_name(rng, pick_tld)
        if not covered(n, listed):
            out.append(n)
    return out


def gen_sub(rng, names, count):
    out = []
    for _ in range(count):
        base = rng.choice(names)
        pre = sublabel(rng)
        if rng.random() < 0.3:
            pre = sublabel(rng) + "." + pre
        n = pre + "." + base
        out.append(n if len(n) <= 253 else "x." + base)
    return out


class Writer:
    """Buffered text file that also keeps a sha256 of what it wrote."""

    def __init__(self, path):
        self.f = open(path, "w", encoding="ascii", buffering=1 << 20)
        self.h = hashlib.sha256()
        self.buf = []

    def add(self, line):
        self.buf.append(line)
        if len(self.buf) >= 65536:
            self.flush()

    def flush(self):
        s = "".join(self.buf)
        self.f.write(s)
        self.h.update(s.encode("ascii"))
        self.buf = []

    def close(self):
        self.flush()
        self.f.close()
        return self.h.hexdigest()


def write_lists(out, prefix, names, ip, ttl):
    digests = {}
    w = Writer(os.path.join(out, prefix + ".hosts"))
    w.add("# sinkhole benchmark list, %d names\n" % len(names))
    for n in names:
        w.add("0.0.0.0 %s\n" % n)
    digests["hosts"] = w.close()

    w = Writer(os.path.join(out, prefix + ".unbound.conf"))
    w.add("server:\n")
    for n in names:
        w.add('local-zone: "%s." redirect\nlocal-data: "%s. %d IN A %s"\n' % (n, n, ttl, ip))
    digests["unbound"] = w.close()

    w = Writer(os.path.join(out, prefix + ".dnsmasq.conf"))
    for n in names:
        w.add("address=/%s/%s\n" % (n, ip))
    digests["dnsmasq"] = w.close()

    w = Writer(os.path.join(out, prefix + ".rpz"))
    w.add("$ORIGIN rpz.sinkhole.\n$TTL %d\n" % ttl)
    w.add("@ SOA localhost. root.localhost. 1 3600 600 86400 %d\n@ NS localhost.\n" % ttl)
    for n in names:
        w.add("%s A %s\n*.%s A %s\n" % (n, ip, n, ip))
    digests["rpz"] = w.close()
    return digests


def write_queries(path, names):
    w = Writer(path)
    for n in names:
        w.add(n + " A\n")
    return w.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=1000000, help="entries on the big list")
    ap.add_argument("--small", type=int, default=10, help="entries on the small list")
    ap.add_argument("--queries", type=int, default=1000000, help="lines per query file")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--sinkhole", default="127.66.0.1")
    ap.add_argument("--ttl", type=int, default=300)
    a = ap.parse_args()
    if a.small > a.count or a.small < 1:
        sys.exit("gen_lists: --small must be between 1 and --count")
    os.makedirs(a.out, exist_ok=True)

    # Separate streams so changing --queries does not change the lists.
    rng_list = random.Random(a.seed)
    rng_q = random.Random(a.seed + 1)
    rng_un = random.Random(a.seed + 2)

    listed, listed_set = gen_listed(rng_list, a.count)
    small = listed[: a.small]
    big_d = write_lists(a.out, "big", listed, a.sinkhole, a.ttl)
    write_lists(a.out, "small", small, a.sinkhole, a.ttl)

    nq = a.queries
    if nq <= len(listed):
        qa = rng_q.sample(listed, nq)
    else:
        qa = [rng_q.choice(listed) for _ in range(nq)]
    write_queries(os.path.join(a.out, "q-big-listed"), qa)
    del qa
    write_queries(os.path.join(a.out, "q-big-sub"), gen_sub(rng_q, listed, nq))
    write_queries(os.path.join(a.out, "q-small-listed"), [rng_q.choice(small) for _ in range(nq)])
    write_queries(os.path.join(a.out, "q-small-sub"), gen_sub(rng_q, small, nq))
    # Two disjoint unlisted files, one per load generator, so that the second
    # tool run against a server does not find the first one's names in its cache.
    unl = gen_unlisted(rng_un, 2 * nq + 1, listed_set)
    reload_name = unl.pop()  # never queried: the reload test adds it to the list
    write_queries(os.path.join(a.out, "q-unlisted-1"), unl[:nq])
    write_queries(os.path.join(a.out, "q-unlisted-2"), unl[nq:])

    with open(os.path.join(a.out, "meta.env"), "w") as f:
        f.write("SEED=%d\nN_BIG=%d\nN_SMALL=%d\nN_QUERIES=%d\nSINKHOLE=%s\n"
                % (a.seed, a.count, a.small, nq, a.sinkhole))
        f.write("PROBE_BIG=%s\nPROBE_SMALL=%s\n" % (listed[-1], small[-1]))
        f.write("RELOAD_NAME=%s\nBIG_HOSTS_SHA256=%s\n" % (reload_name, big_d["hosts"]))
    print("gen_lists: %d + %d names, %d queries per file, seed %d, big.hosts sha256 %s"
          % (a.count, a.small, nq, a.seed, big_d["hosts"]))


if __name__ == "__main__":
    main()
