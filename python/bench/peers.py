"""make bench-peers: the same workloads through the fxmesh SDK's Executor
(a local mesh, fxnode dev: one endpoint with 2 warm workers), Dask
distributed (LocalCluster, 2 worker processes of 1 thread) and the standard
library's ProcessPoolExecutor(2), the no-network floor, in one run:

  (a) no-op round trip, sequential: p50 and p99;
  (b) 20,000 no-op submits, then waiting for all: tasks/s;
  (c) 2,000 tasks that sleep 10 ms: tasks/s (ideal with 2 workers: 200/s).

It prints one table with fxmesh's ratio to each peer. Dask imports only
under Debian's /usr/bin/python3 (python3-distributed)."""

import argparse
import concurrent.futures as cf
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def noop(x):
    return x


def sleep10(x):
    import time
    time.sleep(0.01)
    return x


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def measure(submit, result, n_seq, n_thr, n_sleep):
    """The three workloads through submit(fn, x) -> handle, result(handle)."""
    for i in range(20):  # warm up
        result(submit(noop, i))
    lat = []
    for i in range(n_seq):
        t = time.perf_counter()
        result(submit(noop, i))
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    hs = [submit(noop, i) for i in range(n_thr)]
    for h in hs:
        result(h)
    thr = n_thr / (time.perf_counter() - t)
    t = time.perf_counter()
    hs = [submit(sleep10, i) for i in range(n_sleep)]
    for h in hs:
        result(h)
    slp = n_sleep / (time.perf_counter() - t)
    return {"p50": pct(lat, 50) * 1e3, "p99": pct(lat, 99) * 1e3, "thr": thr, "sleep": slp}


def run_fxmesh(args):
    import fxmesh
    from tests.devmesh import Mesh

    mesh = Mesh()
    try:
        for k, v in mesh.env.items():
            os.environ[k] = v
        os.environ.pop("FX_BOOTSTRAP", None)
        with fxmesh.Executor() as ex:
            return measure(ex.submit, lambda f: f.result(), args.seq, args.throughput, args.sleep)
    finally:
        mesh.close()


def run_dask(args):
    import logging

    import distributed

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    try:
        return measure(lambda fn, x: client.submit(fn, x, pure=False), lambda f: f.result(),
                       args.seq, args.throughput, args.sleep)
    finally:
        client.close()
        cluster.close()


def run_ppe(args):
    with cf.ProcessPoolExecutor(2) as ex:
        return measure(ex.submit, lambda f: f.result(), args.seq, args.throughput, args.sleep)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq", type=int, default=1000, help="sequential no-op round trips")
    ap.add_argument("--throughput", type=int, default=20000, help="no-op submits")
    ap.add_argument("--sleep", type=int, default=2000, help="10 ms sleep tasks")
    ap.add_argument("--only", default="fxmesh,dask,ppe", help="which systems, comma-separated")
    args = ap.parse_args()
    which = args.only.split(",")
    res = {}
    for name, fn in (("fxmesh", run_fxmesh), ("dask", run_dask), ("ppe", run_ppe)):
        if name in which:
            print("running %s ..." % name, file=sys.stderr, flush=True)
            res[name] = fn(args)
    rows = [
        ("no-op round trip p50 (ms)", "p50", "%.3f"),
        ("no-op round trip p99 (ms)", "p99", "%.3f"),
        ("%d no-op submits (tasks/s)" % args.throughput, "thr", "%.0f"),
        ("%d x 10 ms sleep (tasks/s)" % args.sleep, "sleep", "%.1f"),
    ]
    peers = [p for p in ("dask", "ppe") if p in res]
    names = {"fxmesh": "fxmesh SDK", "dask": "Dask LocalCluster", "ppe": "ProcessPool(2)"}
    head = ["workload"] + [names[k] for k in res] + ["fxmesh / " + names[p] for p in peers if "fxmesh" in res]
    table = [head]
    for label, key, fmt in rows:
        row = [label] + [fmt % res[k][key] for k in res]
        if "fxmesh" in res:
            row += ["%.2fx" % (res["fxmesh"][key] / res[p][key]) for p in peers]
        table.append(row)
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    print("\n%s; %d CPUs; Python %s" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
                                        sys.version.split()[0]))
    for i, r in enumerate(table):
        print("| " + " | ".join(c.ljust(widths[j]) for j, c in enumerate(r)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("(ratios are fxmesh / peer: below 1 is better for latency, above 1 for tasks/s)")


if __name__ == "__main__":
    main()
