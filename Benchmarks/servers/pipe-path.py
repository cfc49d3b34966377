#!/usr/bin/env python3
"""The pipe(8) path of smtpd-vs-sink.sh: one `linkstamp filter` process per message.

    pipe-path.py LINKSTAMP CONFIG MESSAGE SINK_HOST:PORT COUNT RECIPIENTS WORKERS EVENTS

For each of COUNT messages it starts `LINKSTAMP filter --config CONFIG --events EVENTS -f SENDER --
RCPT...` with MESSAGE on its standard input (as Postfix's pipe(8) runs the README's wiring), takes
the Batch SMTP stream the filter writes, and hands it to the sink over one new SMTP connection
(EHLO, then the stream: MAIL, RCPT, DATA per copy, QUIT; the sink pipelines), checking every reply.
WORKERS messages are in flight at once (pipe(8)'s process limit). Prints one line:
`RESULT messages=N seconds=S copies=C`. Standard library only.
"""
import concurrent.futures
import socket
import subprocess
import sys
import time


def replies(stream: bytes) -> list[bytes]:
    """The final reply lines of an SMTP reply stream (continuation lines dropped)."""
    return [line for line in stream.split(b"\r\n") if len(line) >= 4 and line[3:4] == b" "]


def deliver(batch: bytes, host: str, port: int) -> int:
    """Sends a Batch SMTP stream to host:port; returns the number of copies accepted."""
    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(b"EHLO pipe-path.bench\r\n" + batch)
        received = bytearray()
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    lines = replies(bytes(received))
    bad = [line for line in lines if line[:1] not in (b"2", b"3")]
    if bad:
        raise RuntimeError(f"sink refused: {bad[0]!r}")
    # One "250" after each copy's final dot: count the DATA commands of the stream instead.
    return batch.count(b"\r\nDATA\r\n") + batch.startswith(b"DATA\r\n")


def one(argv: list[str], message: bytes, host: str, port: int) -> int:
    result = subprocess.run(argv, input=message, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"filter exited {result.returncode}: {result.stderr.decode(errors='replace')}")
    return deliver(result.stdout, host, port)


def main() -> None:
    binary, config, message_path, sink, count, recipients, workers, events = sys.argv[1:9]
    host, port = sink.rsplit(":", 1)
    message = open(message_path, "rb").read()
    rcpts = [f"reader{i}@example.org" for i in range(1, int(recipients) + 1)]
    argv = [binary, "filter", "--config", config, "--events", events, "-f", "news@acme.example", "--", *rcpts]
    start = time.monotonic()
    copies = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=int(workers)) as pool:
        for accepted in pool.map(lambda _: one(argv, message, host, int(port)), range(int(count))):
            copies += accepted
    seconds = time.monotonic() - start
    print(f"RESULT messages={count} seconds={seconds:.3f} copies={copies}")


if __name__ == "__main__":
    main()
