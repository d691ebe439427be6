"""The per-partner rate limit holds across API containers: what each partner is served per second.

    LOCAL_PG_DB=julo_bench_rate .venv/bin/python -m localdev.services -- .venv/bin/python bench/partner_rate_limit.py \\
        [--containers 4] [--clients 4] [--overload 3] [--seconds 20]

Starts ``--containers`` API processes (``chalice local``, each its own process with its own
database connections, as separate Lambda containers are) on free ports. Then, at the same time:

- partner A: ``--clients`` clients, spread over the containers, together offering ``--overload``
  times the partner's limit (``PARTNER_RATE_LIMIT_PER_SECOND`` 10/s, burst 20: the defaults),
  each at a fixed pace (open loop: a refused request does not slow the client down);
- partner B: one client at half the limit, which must be served in full.

It runs twice in the same run, same load, same containers' code: with the limit (the shipped
defaults) and with ``PARTNER_RATE_LIMIT_PER_SECOND=0`` (no per-partner limit, as before issue 20:
only the stage-wide throttle). Prints, per run, what A and B were served per second after A's
initial burst (max and median over one-second windows, the steady mean), the 429s, B's median
latency, and the ratio A's served rate without / with the limit. Also times the limiter's own
statement (``partner_rate_take``, one round trip) with 4 threads on one partner's row.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.partners.keys import create_partner_key, list_keys, revoke_key  # noqa: E402
from chalicelib.partners.rate_limit import RateLimit, take  # noqa: E402
from localdev.servers import ports  # noqa: E402

PARTNER_A, PARTNER_B = 951, 952
ACTOR = "bench/partner_rate_limit.py"
LIMIT = RateLimit(10.0, 20)  # the shipped defaults (PARTNER_RATE_LIMIT_PER_SECOND / _BURST)
WARMUP_S = 3.0  # A's burst of 20 and the containers' first connections fall in here


@dataclass
class Log:
    """(completion time since start, status, latency s) of each request of one partner."""

    answers: list[tuple[float, int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, at: float, status: int, latency: float) -> None:
        with self.lock:
            self.answers.append((at, status, latency))


def start_containers(n: int, env: dict[str, str]) -> tuple[list[subprocess.Popen], list[str]]:
    chalice = shutil.which("chalice", path=str(Path(sys.executable).parent)) or "chalice"
    procs, urls = [], []
    for _ in range(n):
        port = ports.free_port()
        procs.append(subprocess.Popen([chalice, "local", "--host", "127.0.0.1", "--port", str(port), "--no-autoreload"],
                                      cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 120
    for url in urls:
        while True:
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                stop(procs)
                raise SystemExit(f"API container {url} did not start")
            time.sleep(0.2)
    return procs, urls


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def client(url: str, key: str, rate: float, start: float, seconds: float, log: Log) -> None:
    """Requests at a fixed pace from ``start`` for ``seconds`` (sent late if an answer is slow)."""
    session = requests.Session()
    n = 0
    while True:
        due = start + n / rate
        if due >= start + seconds:
            return
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent = time.monotonic()
        response = session.get(f"{url}/v1/partner/summary", headers={"x-api-key": key}, timeout=30)
        done = time.monotonic()
        log.add(done - start, response.status_code, done - sent)
        n += 1


def per_second(log: Log, seconds: float) -> list[int]:
    """Served (200) per one-second window, after the warm-up, windows wholly inside the run."""
    windows = [0] * int(seconds)
    for at, status, _ in log.answers:
        if status == 200 and int(at) < len(windows):
            windows[int(at)] += 1
    return windows[math.ceil(WARMUP_S):]


def run(urls: list[str], keys: dict[int, str], args: argparse.Namespace) -> dict[str, Log]:
    logs = {"A": Log(), "B": Log()}
    start = time.monotonic() + 1.0
    offered = LIMIT.per_second * args.overload
    threads = [threading.Thread(target=client, args=(urls[i % len(urls)], keys[PARTNER_A], offered / args.clients,
                                                     start, args.seconds, logs["A"]))
               for i in range(args.clients)]
    threads.append(threading.Thread(target=client, args=(urls[-1], keys[PARTNER_B], LIMIT.per_second / 2, start,
                                                         args.seconds, logs["B"])))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return logs


def report(title: str, logs: dict[str, Log], args: argparse.Namespace) -> float:
    print(f"\n{title}")
    steady_a = 0.0
    for name, log in logs.items():
        windows = per_second(log, args.seconds)
        statuses = [s for _, s, _ in log.answers]
        served, refused = statuses.count(200), statuses.count(429)
        other = len(statuses) - served - refused
        steady = sum(windows) / len(windows) if windows else 0.0
        latency = statistics.median(lat for _, _, lat in log.answers) * 1000 if log.answers else 0.0
        print(f"  partner {name}: sent {len(statuses):4d}, served {served:4d}, 429 {refused:4d}, other {other}; "
              f"served/s after warm-up: max {max(windows, default=0):3d}, "
              f"median {statistics.median(windows or [0]):5.1f}, mean {steady:5.2f}; median latency {latency:6.1f} ms")
        print(f"             per second: {windows}")
        if name == "A":
            steady_a = steady
    return steady_a


def time_take(url: str, threads: int = 4, calls: int = 250) -> list[float]:
    """Round-trip time of one take (+ commit) with ``threads`` threads on one partner's row."""
    samples: list[float] = []
    lock = threading.Lock()
    limit = RateLimit(1e9, 1_000_000)  # never refuses: times the statement and the row lock

    def worker() -> None:
        conn = psycopg2.connect(url)
        mine = []
        for _ in range(calls):
            t0 = time.perf_counter()
            take(conn, PARTNER_A, limit)
            conn.commit()
            mine.append(time.perf_counter() - t0)
        conn.close()
        with lock:
            samples.extend(mine)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/partner_rate_limit.py")
    parser.add_argument("--containers", type=int, default=4, help="API processes")
    parser.add_argument("--clients", type=int, default=4, help="partner A's concurrent clients")
    parser.add_argument("--overload", type=float, default=3.0, help="A's offered load / its limit")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    url = os.environ["DATABASE_URL"]
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO partner (partner_id, name) VALUES (%s, 'Bench Partner A'), (%s, 'Bench Partner B') "
                    "ON CONFLICT DO NOTHING", (PARTNER_A, PARTNER_B))
    conn.commit()
    keys = {}
    for partner in (PARTNER_A, PARTNER_B):
        for old in list_keys(conn, partner_id=partner):
            revoke_key(conn, old.key_prefix, actor=ACTOR)
        keys[partner] = create_partner_key(conn, partner, actor=ACTOR)

    print(f"partner A: {args.clients} clients offering {LIMIT.per_second * args.overload:g} req/s "
          f"({args.overload:g}x its limit of {LIMIT.per_second:g}/s, burst {LIMIT.burst}) over {args.containers} API "
          f"containers; partner B: 1 client at {LIMIT.per_second / 2:g} req/s; {args.seconds:g} s per run; "
          f"windows after a {WARMUP_S:g} s warm-up")
    base_env = {**os.environ, "PARTNER_RATE_LIMIT_BURST": str(LIMIT.burst)}
    results = {}
    for title, rate in (("with the per-partner limit (shipped defaults)", LIMIT.per_second),
                        ("without a per-partner limit (PARTNER_RATE_LIMIT_PER_SECOND=0, before issue 20)", 0.0)):
        with conn.cursor() as cur:
            cur.execute("DELETE FROM partner_rate_limit WHERE partner_id IN (%s, %s)", (PARTNER_A, PARTNER_B))
        conn.commit()
        procs, urls = start_containers(args.containers, {**base_env, "PARTNER_RATE_LIMIT_PER_SECOND": str(rate)})
        try:
            results[rate] = report(title, run(urls, keys, args), args)
        finally:
            stop(procs)

    samples = time_take(url)
    p95 = sorted(samples)[int(len(samples) * 0.95)]
    print(f"\nlimiter statement (partner_rate_take + commit), 4 threads on one partner's row, {len(samples)} calls: "
          f"median {statistics.median(samples) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms")
    limited, unlimited = results[LIMIT.per_second], results[0.0]
    print(f"\npartner A served {limited:.2f}/s with the limit (target {LIMIT.per_second:g} ± 10%: "
          f"{LIMIT.per_second * 0.9:g}-{LIMIT.per_second * 1.1:g}) vs {unlimited:.2f}/s without "
          f"(without / with = {unlimited / limited if limited else float('inf'):.1f}x)")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
