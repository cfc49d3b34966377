#!/usr/bin/env python3
"""Linkstamp next to the tools people compare it with, on the same inputs, in one run.

Run through run.sh (which builds Linkstamp in release and makes the pinned venv):

    Benchmarks/peers/run.sh [--recipients N] [--passes K]

Every figure is the fastest of K passes over a whole corpus folder, single-threaded, with only
the tool's own work inside the clock (reading files, decoding bytes to str and encoding the
result back are outside). Linkstamp is timed by `linkstamp bench --json`, which does the same.

Writes results.json and results.svg beside PERFORMANCE.md and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parent
ROOT = BENCHMARKS.parent


# --------------------------------------------------------------------------------------------
# Inputs


def locate_corpus() -> Path:
    """The shared real-world corpus beside the project; LINKSTAMP_CORPUS overrides it."""
    override = os.environ.get("LINKSTAMP_CORPUS")
    candidates = [Path(override)] if override else []
    candidates.append(ROOT.parent / "shared" / "corpus")
    for candidate in candidates:
        if (candidate / "html").is_dir() and (candidate / "eml").is_dir():
            return candidate.resolve()
    sys.exit("peers: no corpus with html/ and eml/ (set LINKSTAMP_CORPUS)")


def read_folder(folder: Path, suffix: str) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.name.endswith(suffix)]


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class Row:
    group: str  # css, stamp, mime, memcpy
    tool: str
    version: str
    work: str  # what exactly is timed
    items: int = 0  # documents or messages handled
    refused: int = 0
    input_bytes: int = 0
    copies: int = 0
    output_bytes: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    reference: bool = False  # the Linkstamp row its group's ratios are taken against
    label: str = ""  # short chart label; the tool's name when empty

    def rate(self, amount: float, scale: float = 1.0) -> float:
        return amount / self.seconds / scale if self.seconds > 0 else 0.0

    @property
    def input_mb_s(self) -> float:
        return self.rate(self.input_bytes, 1e6)

    @property
    def output_mb_s(self) -> float:
        return self.rate(self.output_bytes, 1e6)

    def as_json(self) -> dict:
        return {
            "group": self.group,
            "tool": self.tool,
            "version": self.version,
            "work": self.work,
            "items": self.items,
            "refused": self.refused,
            "input_bytes": self.input_bytes,
            "copies": self.copies,
            "output_bytes": self.output_bytes,
            "seconds": round(self.seconds, 6),
            "items_per_s": round(self.rate(self.items), 1),
            "input_mb_per_s": round(self.input_mb_s, 2),
            "copies_per_s": round(self.rate(self.copies), 1),
            "output_mb_per_s": round(self.output_mb_s, 2),
            "notes": self.notes,
            "reference": self.reference,
            "label": self.label or self.tool,
        }


def best_of(passes: int, run) -> Row:
    """Runs `run()` `passes` times and keeps the fastest pass."""
    best = None
    for _ in range(passes):
        row = run()
        if best is None or row.seconds < best.seconds:
            best = row
    return best


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------------------------
# Linkstamp, through its own bench command


def linkstamp(binary: Path, corpus: Path, phase: str, recipients: int, passes: int, group: str, work: str,
              reference: bool = False, label: str = "") -> Row:
    # A Linkstamp pass lasts milliseconds where a peer's lasts seconds: it gets more passes so
    # that one scheduler hiccup on a shared machine does not decide its figure.
    command = [str(binary), "bench", "--corpus", str(corpus), "--phase", phase,
               "--recipients", str(recipients), "--iterations", str(passes * LINKSTAMP_PASS_FACTOR), "--json"]
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(completed.stdout)
    if phase == "memcpy":
        row = Row(group, "memcpy", "", work)
    else:
        row = Row(group, "Linkstamp", LINKSTAMP_VERSION, work, reference=reference, label=label)
    row.items = result["messages"]
    row.refused = result["refused"]
    row.input_bytes = result["input_bytes"]
    row.copies = result["copies"]
    row.output_bytes = result["output_bytes"]
    row.seconds = result["seconds"]
    if "doctypes" in result:
        row.notes.append(f"doctypes kept byte for byte: {result['doctypes_kept']}/{result['doctypes']}")
    return row


# --------------------------------------------------------------------------------------------
# (a) CSS inlining


DOCTYPE = re.compile(rb"<!doctype[^>]*>", re.IGNORECASE)


def leading_doctype(data: bytes) -> bytes | None:
    match = DOCTYPE.search(data, 0, 4096)
    if match is None or b"<" in re.sub(rb"<!--.*?-->", b"", data[: match.start()], flags=re.S):
        return None
    return match.group(0)


def inline_css_peer(name: str, package: str, make, documents: list[tuple[str, bytes]]) -> Row:
    row = Row("css", name, version(package), "parse, inline head > style CSS, serialize")
    texts = [data.decode("utf-8", "replace") for _, data in documents]
    found = kept = 0
    for (_, data), text in zip(documents, texts):
        inline = make()
        start = time.perf_counter()
        try:
            out = inline(text)
        except Exception:  # a peer refusing a document is counted, not fatal
            row.seconds += time.perf_counter() - start
            row.refused += 1
            continue
        row.seconds += time.perf_counter() - start
        row.items += 1
        row.input_bytes += len(data)
        encoded = out.encode("utf-8")
        row.output_bytes += len(encoded)
        doctype = leading_doctype(data)
        if doctype is not None:
            found += 1
            kept += leading_doctype(encoded) == doctype
    row.notes.append(f"doctypes kept byte for byte: {kept}/{found}")
    return row


def css_inline_factory():
    import css_inline

    # @media kept (as Linkstamp keeps it), no network, one thread (inline, not inline_many).
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return lambda: inliner.inline


def premailer_factory():
    import cssutils
    import cssutils.util
    from premailer import Premailer

    # cssutils fetches @import URLs even with allow_network=False: no fetching at all here.
    cssutils.util._defaultFetcher = lambda url: (None, "")
    cssutils.log.setLevel(logging.CRITICAL)

    def make():
        def transform(text: str) -> str:
            return Premailer(
                text, allow_network=False, cache_css_parsing=False, disable_validation=True,
                cssutils_logging_level=logging.CRITICAL,
            ).transform()

        return transform

    return make


# --------------------------------------------------------------------------------------------
# (b) per-recipient link rewriting with pixels

KEY = b"peers-benchmark-key-0123456789abcdef"
TRACKING = "https://click.example.com"


def token(*parts: str) -> str:
    """A signed token: HMAC-SHA-256 truncated to 16 bytes, base64url (cheaper than Linkstamp's
    authenticated encryption, which also carries the target and the recipient)."""
    digest = hmac.new(KEY, "\x00".join(parts).encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def recipients_list(count: int) -> list[str]:
    return [f"reader{i}@example.org" for i in range(count)]


def selectolax_stamp(documents: list[tuple[str, bytes]], recipients: int) -> Row:
    from selectolax.lexbor import LexborHTMLParser

    row = Row("stamp", "selectolax (Lexbor)", version("selectolax"),
              "per copy: parse, rewrite every a[href], append pixel to body, serialize")
    row.notes.append("cannot see links inside <!--[if mso]> comments; re-serializes the document")
    texts = [data.decode("utf-8", "replace") for _, data in documents]
    addresses = recipients_list(recipients)
    for (_, data), text in zip(documents, texts):
        link_tokens: dict[str, str] = {}
        start = time.perf_counter()
        for address in addresses:
            recipient = token("rcpt", address)
            tree = LexborHTMLParser(text)
            for index, anchor in enumerate(tree.css("a[href]")):
                href = anchor.attrs.get("href") or ""
                if not href.startswith(("http://", "https://")):
                    continue
                link = link_tokens.get(href)
                if link is None:
                    link = link_tokens[href] = token("link", str(index), href)
                anchor.attrs["href"] = f"{TRACKING}/f/{link}/{recipient}"
            body = tree.body
            if body is not None:
                pixel = LexborHTMLParser(
                    f'<img src="{TRACKING}/q/o/{recipient}" width="1" height="1" alt="">').css_first("img")
                body.insert_child(pixel)
            out = tree.html or ""
            row.output_bytes += len(out.encode("utf-8"))
            row.copies += 1
        row.seconds += time.perf_counter() - start
        row.items += 1
        row.input_bytes += len(data)
    return row


def lolhtml_passthrough(documents: list[tuple[str, bytes]], recipients: int) -> Row:
    from lol_html import AsyncRewriter

    row = Row("stamp", "lol-html-py", version("lol-html-py"),
              "per copy: stream the document through the tokenizer (pass-through, no rewriting)",
              label="lol-html-py (pass-through only)")
    row.notes.append("no element handlers in the Python binding: it cannot rewrite links, and it always drops "
                     "<style> and <script> elements (so its output is smaller); a tokenizer floor, not a peer")

    async def through(data: bytes) -> bytes:
        rewriter = AsyncRewriter()

        async def produce():
            await rewriter.feed(data)
            rewriter.close()

        async def consume():
            out = bytearray()
            async for chunk in rewriter:
                out += chunk
            return bytes(out)

        _, out = await asyncio.gather(produce(), consume())
        return out

    async def main():
        for _, data in documents:
            start = time.perf_counter()
            for _ in range(recipients):
                out = await through(data)
                row.output_bytes += len(out)
                row.copies += 1
            row.seconds += time.perf_counter() - start
            row.items += 1
            row.input_bytes += len(data)

    asyncio.run(main())
    return row


# --------------------------------------------------------------------------------------------
# (c) MIME

HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']*)\2""", re.IGNORECASE)


def time_messages(row: Row, messages: list[tuple[str, bytes]], work) -> Row:
    """Times `work(data)` on every message; it returns the output bytes (or None when it writes
    none). A message it raises on is counted as refused, as Linkstamp counts those it refuses."""
    reasons: dict[str, int] = {}
    for _, data in messages:
        start = time.perf_counter()
        try:
            out = work(data)
        except Exception as error:
            row.seconds += time.perf_counter() - start
            row.refused += 1
            reasons[type(error).__name__] = reasons.get(type(error).__name__, 0) + 1
            continue
        row.seconds += time.perf_counter() - start
        row.items += 1
        row.input_bytes += len(data)
        if out is not None:
            row.output_bytes += len(out)
    if reasons:
        row.notes.append("raised " + ", ".join(f"{name} ({count})" for name, count in sorted(reasons.items())))
    return row


def python_email(messages: list[tuple[str, bytes]]) -> Row:
    row = Row("mime", "Python email", platform.python_version(),
              "parse, rewrite the HTML part's links, serialize (as_bytes)", label="Python email (parse+rewrite+serialize)")

    def rewrite(html: str) -> str:
        return HREF.sub(lambda m: f"{m.group(1)}{m.group(2)}{TRACKING}/f/{token('link', m.group(3))}/R{m.group(2)}", html)

    def work(data: bytes) -> bytes:
        message = email.message_from_bytes(data, policy=email.policy.default)
        for part in message.walk():
            if part.get_content_type() == "text/html" and not part.is_multipart():
                part.set_content(rewrite(part.get_content()), subtype="html")
        return message.as_bytes()

    return time_messages(row, messages, work)


def fast_mail_parser(messages: list[tuple[str, bytes]]) -> Row:
    from fast_mail_parser import parse_email

    row = Row("mime", "fast-mail-parser", version("fast-mail-parser"), "parse only (no rewrite, no output)",
              label="fast-mail-parser (parse only)")

    def work(data: bytes) -> None:
        parse_email(data)
        return None

    return time_messages(row, messages, work)


# --------------------------------------------------------------------------------------------
# (d) One whole process per message: `linkstamp filter` vs altermime


STARTUP = BENCHMARKS / "filter-startup"


def spawn_timed(argv: list[str], stdin_path: str | None) -> tuple[float, float]:
    """Runs argv (no shell; stdout to /dev/null): wall and CPU (user + system, from wait4) in s."""
    devnull = os.open("/dev/null", os.O_WRONLY)
    stdin = os.open(stdin_path or "/dev/null", os.O_RDONLY)
    actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
               (os.POSIX_SPAWN_DUP2, devnull, 2)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    os.close(devnull)
    os.close(stdin)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[0]} exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def filter_processes(binary: Path, keygen: Path, rounds: int, work: Path) -> list[Row]:
    """`linkstamp filter` and `altermime --input=FILE --disclaimer=FILE` on the same 4 KB message
    (filter-startup/message.eml), one whole process each, interleaved round by round; each row's
    time is the median CPU time of one process (wall medians in the notes: they move more on a
    shared machine). altermime edits its input in place: it gets a fresh copy every round, made
    outside the clock."""
    import shutil
    import statistics

    binary = binary.resolve()
    altermime = shutil.which("altermime")
    message = work / "message.eml"
    shutil.copy(STARTUP / "message.eml", message)
    shutil.copy(STARTUP / "disclaimer.txt", work / "disclaimer.txt")
    shutil.copy(STARTUP / "linkstamp.conf", work / "linkstamp.conf")
    # The key ring is made by `linkstamp keygen` (linkstamp-filter runs only the filter).
    subprocess.run([str(keygen.resolve()), "keygen", "--config", str(work / "linkstamp.conf")], check=True,
                   capture_output=True, cwd=work)
    size = message.stat().st_size
    commands = {
        # `linkstamp filter …`, or `linkstamp-filter …` (the filter alone, as README installs it).
        "linkstamp": ([str(binary)] + ([] if binary.name.startswith("linkstamp-filter") else ["filter"])
                      + ["--config", str(work / "linkstamp.conf"), "-f", "news@acme.example", "--", "reader@example.org"],
                      str(message)),
    }
    if altermime:
        commands["altermime"] = ([altermime, f"--input={work / 'altermime.eml'}",
                                  f"--disclaimer={work / 'disclaimer.txt'}"], None)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, (argv, stdin) in commands.items():
            if name == "altermime":
                shutil.copy(message, work / "altermime.eml")
            wall, cpu = spawn_timed(argv, stdin)
            walls[name].append(wall)
            cpus[name].append(cpu)
    rows = []
    for name in commands:
        cpu, wall = statistics.median(cpus[name]), statistics.median(walls[name])
        if name == "linkstamp":
            row = Row("process", "Linkstamp", LINKSTAMP_VERSION,
                      f"whole `{binary.name.replace('-static', '')}{'' if binary.name.startswith('linkstamp-filter') else ' filter'}` "
                      "process: one 4 KB message, one recipient, tracking on",
                      reference=True, label="Linkstamp: filter process")
        else:
            row = Row("process", "altermime", command_output(["dpkg-query", "-W", "-f=${Version}", "altermime"]),
                      "whole `altermime --input=FILE --disclaimer=FILE` process, same message")
        row.items, row.input_bytes, row.seconds = 1, size, cpu
        row.notes.append(f"{rounds} interleaved rounds: CPU median {cpu * 1e3:.2f} ms, wall median {wall * 1e3:.2f} ms")
        rows.append(row)
    if not altermime:
        rows[0].notes.append("altermime is not installed (apt-get install altermime): no peer row")
    return rows


# --------------------------------------------------------------------------------------------
# Report


GROUPS = {
    "css": "CSS inlining (HTML corpus, input MB/s)",
    "stamp": "Per-recipient links + pixel (HTML corpus, MB/s of document x copies)",
    "mime": "MIME (.eml corpus, input MB/s)",
    "memcpy": "memcpy of the stamped output (output MB/s)",
    "process": "One whole process per 4 KB message, as pipe(8) runs it (message MB per CPU second)",
}


def headline(row: Row) -> float:
    """The figure a group is compared on, in MB/s. Stamping: the documents' bytes times the
    copies made of them (proportional to copies/s; output sizes differ between tools, and
    lol-html-py drops <style>). memcpy: the bytes copied."""
    if row.group == "stamp":
        return row.rate(row.input_bytes * row.copies / row.items, 1e6) if row.items else 0.0
    return row.output_mb_s if row.group == "memcpy" else row.input_mb_s


def table(rows: list[Row]) -> str:
    lines = [
        "| work | tool | items/s | input MB/s | copies/s | output MB/s | Linkstamp vs this | refused |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    reference = {row.group: row for row in rows if row.reference}
    stamp_only = next((r for r in rows if r.group == "stamp" and r.tool == "Linkstamp" and not r.reference), None)
    for row in rows:
        ours = reference.get(row.group)
        if row.group == "memcpy":
            limit = row.output_mb_s
            ratio = f"stamping runs at {stamp_only.output_mb_s / limit:.0%} of it" if stamp_only and limit else ""
        elif ours is None or row.tool == "Linkstamp" or headline(row) == 0:
            ratio = "reference" if row.reference else ""
        else:
            factor = headline(ours) / headline(row)
            shown = factor if factor >= 1 else 1 / factor
            digits = 1 if shown >= 1.1 else 2
            ratio = f"{shown:.{digits}f}x {'faster' if factor >= 1 else 'slower'}"
        copies = f"{row.rate(row.copies):,.0f}" if row.copies else ""
        output = f"{row.output_mb_s:,.1f}" if row.output_bytes else ""
        tool = f"{row.tool} {row.version}".strip()
        lines.append(
            f"| {row.work} | {tool} | {row.rate(row.items):,.0f} | "
            f"{row.input_mb_s:,.1f} | {copies} | {output} | {ratio} | {row.refused} |")
    return "\n".join(lines)


def svg_chart(rows: list[Row], title: str) -> str:
    """Horizontal bars, one block per group, log scale (the figures span four decades)."""
    import math

    bar_height, gap, label_width, plot_width = 18, 6, 290, 520
    blocks = [(group, [r for r in rows if r.group == group]) for group in GROUPS]
    blocks = [(group, members) for group, members in blocks if members]
    values = [headline(r) for r in rows if headline(r) > 0]
    low = 10 ** math.floor(math.log10(min(values)))
    high = 10 ** math.ceil(math.log10(max(values)))
    span = math.log10(high) - math.log10(low)

    def x(value: float) -> float:
        return label_width + plot_width * (math.log10(max(value, low)) - math.log10(low)) / span

    height = 50 + sum(28 + len(members) * (bar_height + gap) for _, members in blocks) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + plot_width + 90}" height="{height}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    y = 44
    for group, members in blocks:
        out.append(f'<text x="10" y="{y + 12}" font-weight="bold">{escape(GROUPS[group])}</text>')
        y += 20
        for row in members:
            value = headline(row)
            colour = "#d9480f" if row.tool in ("Linkstamp",) else ("#868e96" if row.group == "memcpy" else "#4263eb")
            label = row.label or row.tool
            out.append(f'<text x="{label_width - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
            out.append(f'<rect x="{label_width}" y="{y}" width="{max(1.0, x(value) - label_width):.1f}" '
                       f'height="{bar_height}" fill="{colour}"/>')
            out.append(f'<text x="{x(value) + 4:.1f}" y="{y + 13}">{value:,.1f} MB/s</text>')
            y += bar_height + gap
        y += 8
    decade = low
    while decade <= high:
        out.append(f'<line x1="{x(decade):.1f}" y1="40" x2="{x(decade):.1f}" y2="{y}" stroke="#dee2e6"/>')
        out.append(f'<text x="{x(decade):.1f}" y="{y + 14}" text-anchor="middle" fill="#495057">{decade:g}</text>')
        decade *= 10
    out.append(f'<text x="{label_width + plot_width / 2}" y="{y + 28}" text-anchor="middle" fill="#495057">'
               'MB/s, log scale (higher is better)</text>')
    out.append("</svg>")
    # Grid lines were appended last; move them behind the bars.
    grid = [line for line in out if line.startswith("<line")]
    rest = [line for line in out if not line.startswith("<line")]
    return "\n".join(rest[:2] + grid + rest[2:]) + "\n"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------------------------


LINKSTAMP_VERSION = "?"
LINKSTAMP_PASS_FACTOR = 10


def main() -> None:
    global LINKSTAMP_VERSION
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--linkstamp", type=Path, default=ROOT / ".build" / "release" / "linkstamp")
    parser.add_argument("--recipients", type=int, default=10)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--out", type=Path, default=BENCHMARKS)
    parser.add_argument("--filter-binary", type=Path, default=None,
                        help="the linkstamp binary README installs, for the per-process row (default: --linkstamp)")
    parser.add_argument("--process-rounds", type=int, default=200)
    arguments = parser.parse_args()

    corpus = locate_corpus()
    html_folder, eml_folder = corpus / "html", corpus / "eml"
    documents = read_folder(html_folder, ".html")
    messages = read_folder(eml_folder, ".eml")
    LINKSTAMP_VERSION = subprocess.run(
        [str(arguments.linkstamp), "--version"], check=True, capture_output=True, text=True).stdout.strip()
    n, passes, binary = arguments.recipients, arguments.passes, arguments.linkstamp

    def step(text: str) -> None:
        print(f"peers: {text}", file=sys.stderr, flush=True)

    rows: list[Row] = []
    step("CSS inlining")
    rows.append(linkstamp(binary, html_folder, "inline-css", n, passes, "css",
                          "inline head > style CSS, patch the original bytes", reference=True))
    rows.append(best_of(passes, lambda: inline_css_peer("css-inline", "css-inline", css_inline_factory(), documents)))
    # premailer needs tens of seconds per pass: one pass is enough to place it.
    premailer = best_of(1, lambda: inline_css_peer("premailer", "premailer", premailer_factory(), documents))
    premailer.notes.append("one pass (tens of seconds each), CSS parse cache off")
    rows.append(premailer)

    step(f"per-recipient stamping, {n} recipients")
    rows.append(linkstamp(binary, html_folder, "pipeline", n, passes, "stamp",
                          f"prepare once (MIME, links, tokens) + {n} copies", reference=True,
                          label=f"Linkstamp: prepare + {n} copies"))
    rows.append(linkstamp(binary, html_folder, "stamp", n, passes, "stamp",
                          f"only the {n} copies: tokens spliced into the prepared message",
                          label=f"Linkstamp: the {n} copies only"))
    rows.append(best_of(passes, lambda: selectolax_stamp(documents, n)))
    rows.append(best_of(passes, lambda: lolhtml_passthrough(documents, n)))

    step("MIME")
    rows.append(linkstamp(binary, eml_folder, "prepare", n, passes, "mime",
                          "prepare: parse, find and sign links, lay out segments", reference=True))
    rows.append(best_of(passes, lambda: python_email(messages)))
    rows.append(best_of(passes, lambda: fast_mail_parser(messages)))

    step("memcpy")
    rows.append(linkstamp(binary, html_folder, "memcpy", n, passes, "memcpy",
                          "copy the stamped bytes into fresh memory (a 128 MiB ring, as stamping writes)"))

    step(f"whole filter process vs altermime, {arguments.process_rounds} interleaved rounds")
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        rows.extend(filter_processes(arguments.filter_binary or binary, binary, arguments.process_rounds, Path(scratch)))

    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "swift": swift_version(),
        "libxml2": command_output(["pkg-config", "--modversion", "libxml-2.0"]),
        "kernel": platform.release(),
        "linkstamp": LINKSTAMP_VERSION,
        "packages": {p: version(p) for p in
                     ("css-inline", "premailer", "cssutils", "lxml", "selectolax", "lol-html-py", "fast-mail-parser")},
    }
    results = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "Benchmarks/peers/run.sh" + (f" --recipients {n}" if n != 10 else "")
        + (f" --passes {passes}" if passes != 5 else ""),
        "recipients": n,
        "passes": passes,
        "linkstamp_passes": passes * LINKSTAMP_PASS_FACTOR,
        "corpus": {
            "html": {"files": len(documents), "bytes": sum(len(d) for _, d in documents)},
            "eml": {"files": len(messages), "bytes": sum(len(d) for _, d in messages)},
        },
        "machine": machine,
        "rows": [row.as_json() for row in rows],
    }
    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    title = f"Linkstamp and peers — {machine['cpu']}, {machine['cores']} cores, {n} recipients"
    (arguments.out / "results.svg").write_text(svg_chart(rows, title))
    report = table(rows) + "\n\n" + "\n".join(f"- {row.tool}: {note}" for row in rows for note in row.notes)
    print(report)
    print(f"\nwrote {arguments.out / 'results.json'} and {arguments.out / 'results.svg'}")
    update_performance_page(arguments.out / "PERFORMANCE.md", report, results)


def update_performance_page(page: Path, report: str, results: dict) -> None:
    """Replaces the generated block of PERFORMANCE.md (between its markers) with this run."""
    begin, end = "<!-- generated by Benchmarks/peers/run.sh: begin -->", "<!-- generated: end -->"
    try:
        text = page.read_text()
    except OSError:
        return
    if begin not in text or end not in text:
        return
    machine = results["machine"]
    packages = ", ".join(f"{name} {v}" for name, v in machine["packages"].items())
    block = "\n".join([
        begin,
        "",
        f"Run {results['generated']} with `{results['command']}`: {results['recipients']} recipients per message, "
        f"fastest of {results['passes']} passes ({results['passes'] * LINKSTAMP_PASS_FACTOR} for Linkstamp, whose "
        f"passes last milliseconds; 1 for premailer), one thread. Inputs: {results['corpus']['html']['files']} HTML "
        f"documents ({results['corpus']['html']['bytes'] / 1e6:.1f} MB) and {results['corpus']['eml']['files']} "
        f"messages ({results['corpus']['eml']['bytes'] / 1e6:.1f} MB) of the shared corpus.",
        "",
        report,
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores (shared with other jobs), Linux {machine['kernel']}; "
        f"Swift {machine['swift']}, libxml2 {machine['libxml2']}, Python {machine['python']}; {packages}.",
        "",
        end,
    ])
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    page.write_text(head + block + tail)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def swift_version() -> str:
    try:
        out = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout
    except OSError:
        return "?"
    match = re.search(r"Swift version (\S+)", out)
    return match.group(1) if match else "?"


if __name__ == "__main__":
    main()
