"""Load on the HTTP service (``ocr serve --with speech``) on 127.0.0.1: throughput and latency under concurrent
clients, against the same model's in-process batch throughput; resident memory over many requests; clients that
vanish mid-upload or send garbage.

    python benchmarks/serve_load.py                      # the full run (10,000 requests for memory)
    python benchmarks/serve_load.py --requests 2000      # a quicker memory run
    python benchmarks/serve_load.py --only lines --no-unbatched

Parts (each a bounded loop; the server is a child process started here with the shipped default models):

- **Throughput and latency**: ``--clients`` (1, 8, 32) asyncio clients (httpx) each send requests one after the other
  until ``--lines`` line images (rendered with ``ocr.synth.render_line``, PNG) or ``--clips`` 5 s clips (WAV, from
  ``speech/samples/hello.wav`` padded with silence, varied gain) have been answered. Requests/s over the wall time,
  p50 and p99 of each request's latency, and the mean size of the batches the server ran (from ``/stats``).
- **In-process batch throughput**: the same files, the same options, one ``Reader.read`` / ``Transcriber.transcribe``
  call over all of them in this process (the model is warm, the server idle). The target: the server at 32 clients
  reaches >= 80% of it for line images.
- **Target check** (``--repeat``, 3): the 32-client line run and the in-process call, alternated 3 times; the median
  ratio is the figure for the target (one pair swings by 20% on a shared machine).
- **Without dynamic batching**: the 32-client line run again against a server started with ``--max-batch 1``
  (what batching buys).
- **Memory and misbehaving clients**: ``--requests`` line requests at 8 clients; the server's resident memory
  (``VmRSS``) is sampled every 5% of them; every 50 requests one client sends half an upload and hangs up, and
  another sends bytes that are not HTTP. Afterwards: did any normal request fail, does ``/healthz`` answer.

Timings depend on what else runs on the machine: say so with the figures.
"""

import argparse
import asyncio
import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, markdown_table, print_header  # noqa: E402

HELLO = ROOT / "speech" / "samples" / "hello.wav"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
TEXTS = ["The quick brown fox jumps over the lazy dog.", "Invoice 2291 due 14 March 2025", "hello world",
         "Pack my box with five dozen liquor jugs!", "(212) 555-0199 ext. 42", "naive approaches fail; 3/4 pass",
         "Sphinx of black quartz, judge my vow.", "total: $1,204.50", "e-mail: someone@example.org",
         "ROBUSTNESS SUITE", "line 7 of 10,000", "The End of the report, page 12."]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients per run (1,8,32)")
    parser.add_argument("--lines", type=int, default=640, help="line requests per run (640)")
    parser.add_argument("--clips", type=int, default=96, help="5 s clip requests per run (96)")
    parser.add_argument("--requests", type=int, default=10_000, help="line requests of the memory run (10,000)")
    parser.add_argument("--window-ms", type=float, default=5.0, help="the server's --batch-window-ms (5)")
    parser.add_argument("--only", choices=("lines", "clips", "memory"), action="append",
                        help="run only these parts (repeatable; default: all)")
    parser.add_argument("--no-unbatched", action="store_true", help="skip the --max-batch 1 comparison")
    parser.add_argument("--processes", type=int, help="the server's --processes (default: its own, one per core)")
    parser.add_argument("--client", choices=("lean", "httpx"), default="lean",
                        help="load generator: lean (plain asyncio HTTP/1.1, ~0.3 ms CPU per request) or httpx (~2 ms)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="target check: alternate the 32-client line run and the in-process call this many times "
                             "and report the median ratio (3; 0: skip)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results_serve.md"),
                        help="markdown file to write (default benchmarks/results_serve.md; '-' for none)")
    parser.add_argument("--note", default="", help="a line to add under the header (e.g. what else ran)")
    return parser.parse_args(argv)


# --- inputs --------------------------------------------------------------------------------------------------------

def line_images(count=48, seed=0):
    import numpy as np
    from PIL import Image

    from ocr.synth import render_line

    rng = np.random.default_rng(seed)
    images = []
    for index in range(count):
        gray = render_line(TEXTS[index % len(TEXTS)], DEJAVU, size=32, rng=rng, degrade=index % 2 == 1)
        buffer = io.BytesIO()
        Image.fromarray(gray).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return images


def clips(count=8, seconds=5.0):
    import numpy as np
    import soundfile

    audio, rate = soundfile.read(HELLO, dtype="float32")
    out = []
    for index in range(count):
        lead = int(rate * 0.1 * (index % 4))
        samples = np.zeros(int(rate * seconds), np.float32)
        piece = audio[: len(samples) - lead] * (0.5 + 0.1 * index)
        samples[lead:lead + len(piece)] = piece
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
        out.append(buffer.getvalue())
    return out


# --- the server ------------------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m ocr serve --with speech`` in a child process."""

    def __init__(self, *extra):
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([sys.executable, "-m", "ocr", "serve", "--with", "speech", "--port",
                                         str(self.port), *extra], cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while True:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"the server exited: {self.log.read()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become ready in 300 s")
            time.sleep(0.3)

    def processes(self):
        """The server's process ids: the one started here and its descendants (``--processes`` > 1)."""
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                with contextlib.suppress(OSError):
                    todo += [int(child) for child in task.read_text().split()]
        return found

    def rss_mb(self):
        """Resident memory of all the server's processes (MB)."""
        total = 0.0
        for pid in self.processes():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024.0
        return total

    def cpu_seconds(self):
        """User + system CPU seconds all the server's processes have used (all their threads)."""
        total = 0.0
        for pid in self.processes():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def batches(self, task):
        import httpx

        return httpx.get(f"{self.url}/stats", timeout=10).json()[task]["batches"]

    def alive(self):
        import httpx

        try:
            return self.process.poll() is None and httpx.get(f"{self.url}/healthz", timeout=10).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- load ------------------------------------------------------------------------------------------------------------

class HttpxConnection:
    """``post(path, body) -> (status, body bytes)`` through an ``httpx.AsyncClient`` (every client shares it)."""

    def __init__(self, http):
        self.http = http

    async def post(self, path, data):
        response = await self.http.post(path, content=data, timeout=300)
        return response.status_code, response.content


class LeanConnection:
    """One client's HTTP/1.1 keep-alive connection on plain asyncio streams: ``post(path, body) -> (status, body)``.

    A load generator that shares the server's cores should take as little of them as it can (httpx takes ~2 ms of
    CPU per request here, about a sixth of what the server spends on a line); this one parses only the status line,
    ``Content-Length`` / chunked bodies and ``Connection: close``.
    """

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path, data):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: "
                          f"application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head.split(" ", 2)[1])
        length = re.search(r"\r\ncontent-length:\s*(\d+)", head)
        if length is not None:
            body = await self.reader.readexactly(int(length.group(1)))
        elif "transfer-encoding: chunked" in head:
            body = b""
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
        else:
            body = await self.reader.read()
            self.close()
        if "\r\nconnection: close" in head:
            self.close()
        return status, body

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def drive(url, path, payloads, total, clients, *, misbehave_every=0, on_progress=None, lean=True):
    """``clients`` coroutines send ``total`` requests (payloads in turn), each on its own keep-alive connection
    (:class:`LeanConnection`; ``lean=False``: through one httpx client); returns (latencies s, wall s, failures)."""
    import httpx

    latencies, failures, counter = [], [], iter(range(total))
    host, port = url.removeprefix("http://").split(":")

    async def misbehave(index):
        reader, writer = await asyncio.open_connection(host, int(port))
        if index % 2:
            body = payloads[0][: len(payloads[0]) // 2]
            writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                         + f"Content-Length: {len(payloads[0])}\r\n\r\n".encode() + body)
        else:
            writer.write(os.urandom(512) + b"\r\n\r\n")
        await writer.drain()
        writer.close()

    async def client(http):
        for index in counter:
            if misbehave_every and index % misbehave_every == 0:
                await misbehave(index // misbehave_every)
            data = payloads[index % len(payloads)]
            start = time.perf_counter()
            try:
                status, body = await http.post(path, data)
                if status != 200:
                    failures.append(f"{status}: {body[:200].decode('utf-8', 'replace')}")
            except (OSError, asyncio.IncompleteReadError, ValueError, httpx.HTTPError) as error:
                failures.append(f"{type(error).__name__}: {error}")
            latencies.append(time.perf_counter() - start)
            if on_progress is not None:
                on_progress(index + 1)

    if lean:
        connections = [LeanConnection(host, int(port)) for _ in range(clients)]
        start = time.perf_counter()
        try:
            await asyncio.gather(*(client(connection) for connection in connections))
        finally:
            for connection in connections:
                connection.close()
        return latencies, time.perf_counter() - start, failures
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits) as http:
        httpx_client = HttpxConnection(http)
        start = time.perf_counter()
        await asyncio.gather(*(client(httpx_client) for _ in range(clients)))
        wall = time.perf_counter() - start
    return latencies, wall, failures


def load_run(server, task, path, payloads, total, clients, *, lean=True):
    import numpy as np

    before, cpu_before, own_before = server.batches(task), server.cpu_seconds(), own_cpu_seconds()
    latencies, wall, failures = asyncio.run(drive(server.url, path, payloads, total, clients, lean=lean))
    after, cpu, own = server.batches(task), server.cpu_seconds() - cpu_before, own_cpu_seconds() - own_before
    calls, items = after["calls"] - before["calls"], after["items"] - before["items"]
    lat = np.array(latencies) * 1000
    return {"clients": clients, "requests": total, "rate": total / wall, "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)), "batch": items / max(calls, 1), "failures": len(failures),
            "server_cpu_ms": 1000 * cpu / total, "client_cpu_ms": 1000 * own / total,
            "first_failure": failures[0] if failures else ""}


def own_cpu_seconds():
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def in_process(task, payloads, total, *, spinning=True):
    """``(inputs/s, CPU ms per input)`` of one batch call over ``total`` inputs in this process (warm model);
    ``spinning=False`` runs ONNX Runtime as the server does (``CTC_TOOLKIT_ONNX_SPINNING=0``)."""
    from common.export import ONNX_SPINNING_VARIABLE

    inputs = [payloads[i % len(payloads)] for i in range(total)]
    saved = os.environ.get(ONNX_SPINNING_VARIABLE)
    os.environ[ONNX_SPINNING_VARIABLE] = "1" if spinning else "0"
    try:
        if task == "ocr":
            from ocr.reader import Reader

            model = Reader.load()
            run = model.read
        else:
            from speech.transcriber import Transcriber

            model = Transcriber.load()
            run = model.transcribe
    finally:
        if saved is None:
            os.environ.pop(ONNX_SPINNING_VARIABLE)
        else:
            os.environ[ONNX_SPINNING_VARIABLE] = saved
    run(inputs[:16])
    start, cpu = time.perf_counter(), own_cpu_seconds()
    results = run(inputs)
    wall, cpu = time.perf_counter() - start, own_cpu_seconds() - cpu
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:1]
    return total / wall, 1000 * cpu / total


def memory_run(server, payloads, total, *, lean=True):
    samples = [(0, server.rss_mb())]
    step = max(1, total // 20)

    def progress(done):
        if done % step == 0:
            samples.append((done, server.rss_mb()))

    _, wall, failures = asyncio.run(drive(server.url, "/ocr/read", payloads, total, 8, misbehave_every=50, lean=lean,
                                          on_progress=progress))
    if samples[-1][0] != total:
        samples.append((total, server.rss_mb()))
    return {"samples": samples, "wall": wall, "failures": failures, "misbehaving": total // 50,
            "alive": server.alive()}


def slope_per_1000(samples):
    import numpy as np

    kept = [(n, mb) for n, mb in samples if n >= 0.2 * samples[-1][0]]
    if len(kept) < 2:
        return float("nan")
    x, y = np.array(kept, dtype=np.float64).T
    return float(np.polyfit(x, y, 1)[0] * 1000.0)


# --- report ----------------------------------------------------------------------------------------------------------

def main(argv=None):
    args = parse_args(argv)
    parts = args.only or ["lines", "clips", "memory"]
    clients = [int(c) for c in args.clients.split(",")]
    out = io.StringIO()

    def emit(text=""):
        print(text, flush=True)
        out.write(text + "\n")

    with contextlib.redirect_stdout(io.StringIO()) as header:
        print_header("HTTP service under load (benchmarks/serve_load.py)", ("fastapi", "uvicorn", "onnxruntime"))
    emit(header.getvalue().rstrip() + "\n")
    if args.note:
        emit(args.note + "\n")
    generator = "plain asyncio HTTP/1.1 keep-alive connections" if args.client == "lean" else "one httpx.AsyncClient"
    emit(f"Load generator: {args.client} ({generator}), on the same machine as the server.\n")
    lines, audio = line_images(), clips()
    lean = args.client == "lean"
    server = Server("--batch-window-ms", str(args.window_ms),
                    *(("--processes", str(args.processes)) if args.processes is not None else ()))
    rows, reference, quiet = [], {}, {}
    try:
        for task, part, path, payloads, total in (("ocr", "lines", "/ocr/read", lines, args.lines),
                                                  ("speech", "clips", "/speech/transcribe", audio, args.clips)):
            if part not in parts:
                continue
            for count in clients:
                result = load_run(server, task, path, payloads, total, count, lean=lean)
                rows.append((part, f"served, {args.window_ms:g} ms window", result))
                print(f"  {part} x{count}: {result['rate']:.1f}/s", file=sys.stderr, flush=True)
            reference[part] = in_process(task, payloads, total)
            quiet[part] = in_process(task, payloads, total, spinning=False)
        pairs = []
        if "lines" in parts:
            for _ in range(max(0, args.repeat)):  # alternating, so that the machine's drift hits both sides alike
                pairs.append((load_run(server, "ocr", "/ocr/read", lines, args.lines, 32, lean=lean),
                              in_process("ocr", lines, args.lines)))
                print(f"  target pair {len(pairs)}: {pairs[-1][0]['rate']:.1f} vs {pairs[-1][1][0]:.1f}/s",
                      file=sys.stderr, flush=True)
        memory = memory_run(server, lines, args.requests, lean=lean) if "memory" in parts else None
    finally:
        server.stop()
    if "lines" in parts and not args.no_unbatched:
        unbatched = Server("--batch-window-ms", "0", "--max-batch", "1")
        try:
            rows.append(("lines", "served, no batching (--max-batch 1)",
                         load_run(unbatched, "ocr", "/ocr/read", lines, args.lines, max(clients), lean=lean)))
        finally:
            unbatched.stop()

    if rows:
        emit("## Throughput and latency\n")
        table = []
        for part, how, r in rows:
            share = f"{100 * r['rate'] / reference[part][0]:.0f}%" if part in reference else "n/a"
            table.append((part, how, r["clients"], r["requests"], f"{r['rate']:.1f}", share, f"{r['p50']:.0f}",
                          f"{r['p99']:.0f}", f"{r['batch']:.1f}", f"{r['server_cpu_ms']:.1f}",
                          f"{r['client_cpu_ms']:.1f}", r["failures"]))
        for part, (rate, cpu_ms) in reference.items():
            n = args.lines if part == "lines" else args.clips
            table.append((part, "in-process, one batch call", "-", n, f"{rate:.1f}", "100%", "", "", "",
                          f"{cpu_ms:.1f}", "", 0))
            rate_quiet, cpu_quiet = quiet[part]
            table.append((part, "in-process, no ONNX spinning (as served)", "-", n, f"{rate_quiet:.1f}",
                          f"{100 * rate_quiet / rate:.0f}%", "", "", "", f"{cpu_quiet:.1f}", "", 0))
        emit(markdown_table(["inputs", "how", "clients", "requests", "requests/s", "of in-process", "p50 ms",
                             "p99 ms", "mean batch", "server CPU ms/req", "client CPU ms/req", "failed"], table))
        emit()
        emit("CPU ms per request: user + system CPU time of the server process (all threads) over the run, divided "
             "by the requests; the clients' own CPU (this process) is apart. On a shared machine wall-clock rates "
             "swing with the other load, CPU time per request much less. \"In-process, one batch call\" is the "
             "Python API as a user runs it (ONNX Runtime's default: its threads spin between runs); the server "
             "turns the spinning off (CTC_TOOLKIT_ONNX_SPINNING=0), measured in the row below it.\n")
        target = [r for part, how, r in rows if part == "lines" and r["clients"] == 32 and "window" in how]
        if target and "lines" in reference:
            rate, cpu_ms = reference["lines"]
            share = target[0]["rate"] / rate
            emit(f"Line images at 32 clients: {target[0]['rate']:.1f} requests/s served vs {rate:.1f} in-process "
                 f"= {100 * share:.0f}% of the in-process throughput (target >= 80%: "
                 f"{'met' if share >= 0.8 else 'not met'}); in CPU time, {target[0]['server_cpu_ms']:.1f} ms per "
                 f"served line vs {cpu_ms:.1f} ms in-process = {100 * cpu_ms / target[0]['server_cpu_ms']:.0f}% "
                 f"as efficient.\n")
        if pairs:
            import numpy as np

            shares = [served["rate"] / inproc[0] for served, inproc in pairs]
            emit(f"## Target check: {len(pairs)} alternating pairs (32 clients, {args.lines} line images, then the "
                 f"same lines in-process)\n")
            emit(markdown_table(["pair", "served requests/s", "in-process lines/s", "served / in-process",
                                 "server CPU ms/req", "in-process CPU ms/line", "mean batch", "p99 ms"],
                                [(i + 1, f"{served['rate']:.1f}", f"{inproc[0]:.1f}", f"{100 * share:.0f}%",
                                  f"{served['server_cpu_ms']:.1f}", f"{inproc[1]:.1f}", f"{served['batch']:.1f}",
                                  f"{served['p99']:.0f}")
                                 for i, ((served, inproc), share) in enumerate(zip(pairs, shares))]))
            emit()
            median = float(np.median(shares))
            emit(f"Median: **{100 * median:.0f}%** of the in-process throughput (target >= 80%: "
                 f"{'met' if median >= 0.8 else 'not met'}; pairs from {100 * min(shares):.0f}% to "
                 f"{100 * max(shares):.0f}%).\n")
        failed = [r["first_failure"] for _, _, r in rows if r["failures"]]
        if failed:
            emit(f"First failure: {failed[0]}\n")
    if memory is not None:
        samples = memory["samples"]
        emit(f"## Memory over {args.requests:,} line requests (8 clients) with misbehaving clients\n")
        emit(markdown_table(["requests", "server RSS MB"], [(f"{n:,}", f"{mb:.0f}") for n, mb in samples]))
        emit()
        emit(f"RSS {samples[0][1]:.0f} MB before, {samples[-1][1]:.0f} MB after, peak sample "
             f"{max(mb for _, mb in samples):.0f} MB; slope after the first 20%: {slope_per_1000(samples):+.2f} MB "
             f"per 1,000 requests; {args.requests / memory['wall']:.1f} requests/s. Misbehaving clients: "
             f"{memory['misbehaving']} (half of them hang up mid-upload, half send bytes that are not HTTP). "
             f"Normal requests failed: {len(memory['failures'])}"
             f"{' (first: ' + memory['failures'][0] + ')' if memory['failures'] else ''}. "
             f"Server alive afterwards: {'yes' if memory['alive'] else 'NO'}.\n")
    if args.out != "-":
        Path(args.out).write_text(out.getvalue(), encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
