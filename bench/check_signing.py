"""Self-check of the harness: requests it signs are accepted by a real server.

A benchmark whose requests are refused measures how fast the server says 401, so this runs
before any number is trusted. On a scratch database it starts the server, issues an API key,
and sends pre-signed ``GET /api/v1/organisation`` requests through the load generator, once
in this process and once from a separate load process; every answer must be 200. A request
signed with a wrong secret must be refused, which shows the 200s come from a checked
signature.

    python -m bench.check_signing [--requests N] [--clients N]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench.harness import (
    LoadResult,
    PreparedRequest,
    busy_cores,
    create_partner_with_key,
    measure_rate,
    migrate,
    run_server,
    scratch_database,
    sign_request,
)

PATH = "/api/v1/organisation"


def _show(name: str, result: LoadResult) -> None:
    latency = ", ".join(f"{k} {v:.1f} ms" for k, v in result.latency_ms.items())
    print(
        f"{name}: status counts {result.status_counts}; {result.rate:.1f} req/s "
        f"over {result.seconds:.2f} s; {latency}"
    )
    for sample in result.error_samples:
        print(f"  {sample}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="signed GETs per run"
    )
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)

    print(f"machine busy before the run: {busy_cores():.2f} cores")
    with scratch_database("bench_check_signing") as database:
        migrate(database)
        key = create_partner_with_key(database)
        with run_server(database) as server:

            def signed(count: int, sk: str = key.sk) -> list[PreparedRequest]:
                return [
                    sign_request(
                        "GET",
                        PATH,
                        b"",
                        key.ak,
                        sk,
                        host=server.host,
                        domain_id=key.domain_id,
                    )
                    for _ in range(count)
                ]

            few = measure_rate(server.url, signed(5), clients=2)
            _show("a few signed GETs", few)
            in_process = measure_rate(
                server.url, signed(args.requests), clients=args.clients
            )
            _show(f"{args.requests} signed GETs, {args.clients} clients", in_process)
            separate = measure_rate(
                server.url, signed(args.requests), clients=args.clients, processes=1
            )
            _show("the same from a load process", separate)
            forged = measure_rate(server.url, signed(3, sk=key.sk[::-1]), clients=1)
            _show("signed with a wrong secret", forged)
            print(f"peak RSS of the server: {server.peak_rss_mb():.1f} MiB")

    accepted = all(
        result.status_counts == {200: result.ok}
        for result in (few, in_process, separate)
    )
    refused = forged.status_counts == {401: 3}
    print("signing check:", "passed" if accepted and refused else "FAILED")
    return 0 if accepted and refused else 1


if __name__ == "__main__":
    raise SystemExit(main())
