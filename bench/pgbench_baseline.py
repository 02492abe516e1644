"""The pgbench transfer baseline on its own: spread and hot-row tps on a scratch database.

Useful to see what the machine gives before reading any API-to-baseline ratio.

    python -m bench.pgbench_baseline [--seconds 3] [--clients 8]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench.harness import busy_cores, pgbench_transfer_rate, scratch_database


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)

    print(f"machine busy before the run: {busy_cores():.2f} cores")
    with scratch_database("bench_pgbench") as database:
        for hot in (False, True):
            tps = pgbench_transfer_rate(
                database, clients=args.clients, seconds=args.seconds, hot=hot
            )
            kind = "one hot debit account" if hot else "random distinct accounts"
            print(f"{kind}: {tps:.1f} tps ({args.clients} clients, {args.seconds} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
