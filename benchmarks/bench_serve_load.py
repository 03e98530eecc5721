"""Serving under load: N concurrent clients ask while documents are uploaded through the API.

Starts ``ragtune serve`` (a real uvicorn process on a loopback port) over a small knowledge base
built from ``examples/knowledge``, then, all at once:

- ``--clients`` threads each ask ``--questions`` questions of ``rag:load`` through
  ``/v1/chat/completions`` (every other one streamed), recording latency, time to first token
  and any error (a non-200 status or an error event in the stream);
- one uploader adds ``--uploads`` new documents, each with a fact invented for it, and right
  after each upload searches for that fact: the very next request must find the new document.

At the end every upload acknowledged by the server must be listed in the knowledge base and be
found by a search for its fact; one that is not counts as lost. Targets: zero errors, zero lost.
Bounded: every client stops at ``--time-limit`` seconds.

    .venv/bin/python benchmarks/bench_serve_load.py --clients 4 --questions 3 --uploads 5
    .venv/bin/python benchmarks/bench_serve_load.py --write     # also replace its section of RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bench_common import ROOT, header, pct, table, write_section

KB = "load"
CORPUS = ROOT / "examples" / "knowledge" / "data" / "corpus.jsonl"
QA = ROOT / "examples" / "knowledge" / "data" / "qa.jsonl"
WORDS = [
    "amber",
    "basalt",
    "cobalt",
    "dune",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
    "lichen",
    "marble",
    "nimbus",
    "onyx",
    "pumice",
    "quartz",
    "russet",
    "sable",
    "tundra",
]


@dataclass
class Record:
    kind: str  # ask | ask-stream | upload | check
    seconds: float
    ok: bool
    ttft: float | None = None
    tokens: int = 0
    error: str = ""


@dataclass
class Log:
    records: list[Record] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, r: Record) -> None:
        with self.lock:
            self.records.append(r)

    def of(self, *kinds: str) -> list[Record]:
        return [r for r in self.records if r.kind in kinds]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This machine's environment without RAGTUNE_* settings (the run starts from defaults)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RAGTUNE_")}


def build_kb(data_dir: Path, paragraphs: int) -> list[str]:
    """The knowledge base ``load`` from the first paragraphs; returns questions about them."""
    src = data_dir.parent / "sources"
    src.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines()[:paragraphs]]
    (src / "paragraphs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ids = {r["id"] for r in rows}
    cli = [sys.executable, "-m", "ragtune.cli.main", "--data-dir", str(data_dir)]
    subprocess.run(
        [*cli, "ingest", str(src / "paragraphs.jsonl"), "--kb", KB, "--create", "--json"],
        check=True,
        env=clean_env(),
        cwd=data_dir.parent,
        stdout=subprocess.DEVNULL,
    )
    qs = [json.loads(line) for line in QA.read_text().splitlines()]
    return [q["question"] for q in qs if q["doc_id"] in ids]


def start_server(data_dir: Path, port: int, max_tokens: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "ragtune.cli.main",
        "--data-dir",
        str(data_dir),
        "--set",
        "serve.rate_limit_per_minute=0",
        "--set",
        "retrieval.top_k=2",
        "--set",
        f"generation.max_tokens={max_tokens}",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    log = (data_dir.parent / "server.log").open("w")
    proc = subprocess.Popen(cmd, env=clean_env(), cwd=data_dir.parent, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("ragtune serve exited:\n" + (data_dir.parent / "server.log").read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("ragtune serve did not answer /health within 120 s")


def ask(client: httpx.Client, question: str, stream: bool, max_tokens: int) -> Record:
    body = {
        "model": f"rag:{KB}",
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "stream": stream,
    }
    t0 = time.perf_counter()
    try:
        if not stream:
            r = client.post("/v1/chat/completions", json=body)
            ok = r.status_code == 200 and bool(r.json()["choices"][0]["message"]["content"])
            toks = r.json()["usage"]["completion_tokens"] if r.status_code == 200 else 0
            return Record("ask", time.perf_counter() - t0, ok, None, toks, "" if ok else r.text[:200])
        ttft, final, err = None, None, ""
        with client.stream("POST", "/v1/chat/completions", json=body) as r:
            if r.status_code != 200:
                return Record("ask-stream", time.perf_counter() - t0, False, error=r.read().decode()[:200])
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                ev = json.loads(line[6:])
                if "error" in ev:
                    err = ev["error"]["message"]
                    continue
                ch = ev["choices"][0]
                if ttft is None and ch["delta"].get("content"):
                    ttft = time.perf_counter() - t0
                if ch["finish_reason"]:
                    final = ev
        ok = final is not None and not err
        toks = final["ragtune"]["usage"]["completion_tokens"] if final else 0
        return Record("ask-stream", time.perf_counter() - t0, ok, ttft, toks, err)
    except (httpx.HTTPError, ValueError, KeyError) as e:
        return Record("ask-stream" if stream else "ask", time.perf_counter() - t0, False, error=repr(e)[:200])


def fact(i: int) -> tuple[str, str, str]:
    """A file name, its text, and a query only that text answers."""
    word = WORDS[i % len(WORDS)]
    name = f"bulletin-{i:03d}.md"
    text = (
        f"# Harbour bulletin {i}\n\nThe {word} lighthouse of Port Quillon was repainted in week {i + 10}. "
        f"Its keeper, Ines Marrow-{i}, logs the {word} beacon every night.\n"
    )
    return name, text, f"Who keeps the {word} lighthouse of Port Quillon?"


def uploader(base: str, n: int, gap_s: float, log: Log, acked: list[str], stop_at: float) -> None:
    with httpx.Client(base_url=base, timeout=300) as c:
        for i in range(n):
            if time.monotonic() > stop_at:
                break
            name, text, query = fact(i)
            t0 = time.perf_counter()
            try:
                r = c.post(f"/v1/kbs/{KB}/documents", files={"file": (name, text.encode(), "text/markdown")})
                ok = r.status_code == 200 and r.json()["files"][0]["status"] == "added"
                log.add(Record("upload", time.perf_counter() - t0, ok, error="" if ok else r.text[:200]))
                if ok:
                    acked.append(name)
                    t1 = time.perf_counter()  # the very next request must see it
                    s = c.post(f"/v1/kbs/{KB}/search", json={"query": query, "top_k": 1})
                    seen = s.status_code == 200 and s.json()["data"][0]["source"].endswith(name)
                    log.add(
                        Record("check", time.perf_counter() - t1, seen, error="" if seen else s.text[:200])
                    )
            except httpx.HTTPError as e:
                log.add(Record("upload", time.perf_counter() - t0, False, error=repr(e)))
            time.sleep(gap_s)


def asker(base: str, questions: list[str], k: int, max_tokens: int, log: Log, stop_at: float) -> None:
    with httpx.Client(base_url=base, timeout=600) as c:
        for j in range(k):
            if time.monotonic() > stop_at:
                break
            log.add(ask(c, questions[(k * 7 + j) % len(questions)], stream=j % 2 == 1, max_tokens=max_tokens))


def lost_documents(base: str, acked: list[str]) -> list[str]:
    with httpx.Client(base_url=base, timeout=120) as c:
        listed = {d["name"] for d in c.get(f"/v1/kbs/{KB}/documents").json()["data"]}
        lost = [n for n in acked if n not in listed]
        for name in acked:
            _, _, query = fact(int(name.split("-")[1].split(".")[0]))
            hits = c.post(f"/v1/kbs/{KB}/search", json={"query": query, "top_k": 3}).json()["data"]
            if not any(h["source"].endswith(name) for h in hits) and name not in lost:
                lost.append(name)
    return lost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--questions", type=int, default=3, help="questions per client")
    ap.add_argument("--uploads", type=int, default=5)
    ap.add_argument("--upload-gap", type=float, default=1.0, help="seconds between uploads")
    ap.add_argument("--paragraphs", type=int, default=12, help="paragraphs in the starting knowledge base")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument(
        "--time-limit", type=float, default=300.0, help="clients stop starting requests after this"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    ap.add_argument("--write", action="store_true", help="replace this benchmark's section of RESULTS.md")
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ragtune-serve-load-"))
    data = work / "data"
    try:
        t = time.perf_counter()
        questions = build_kb(data, a.paragraphs)
        print(
            f"knowledge base of {a.paragraphs} paragraphs built in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        port = free_port()
        proc = start_server(data, port, a.max_tokens)
        base = f"http://127.0.0.1:{port}"
        try:
            ask(httpx.Client(base_url=base, timeout=300), questions[0], False, 4)  # load the models
            log, acked = Log(), []
            stop_at = time.monotonic() + a.time_limit
            threads = [
                threading.Thread(
                    target=asker, args=(base, questions, a.questions, a.max_tokens, log, stop_at)
                )
                for _ in range(a.clients)
            ]
            threads.append(
                threading.Thread(target=uploader, args=(base, a.uploads, a.upload_gap, log, acked, stop_at))
            )
            t0 = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            wall = time.perf_counter() - t0
            lost = lost_documents(base, acked)
            metrics = httpx.get(f"{base}/metrics").text
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    asks = log.of("ask", "ask-stream")
    streams = [r for r in log.of("ask-stream") if r.ok and r.ttft is not None]
    ups, checks = log.of("upload"), log.of("check")
    errors = [r for r in log.records if not r.ok]
    lat = [r.seconds for r in asks if r.ok]
    tokens = sum(r.tokens for r in asks)
    for line in metrics.splitlines():
        if line.startswith("ragtune_requests_total") and 'status="5' in line:
            errors.append(Record("server-5xx", 0, False, error=line))
    rows = [
        ["clients x questions", f"{a.clients} x {a.questions}"],
        ["chat requests (ok / all)", f"{sum(r.ok for r in asks)} / {len(asks)}"],
        ["uploads acknowledged / attempted", f"{len(acked)} / {len(ups)}"],
        ["wall time (s)", round(wall, 1)],
        ["throughput (answers/s)", round(len(lat) / wall, 3)],
        ["throughput (completion tokens/s)", round(tokens / wall, 1)],
        ["answer latency p50 / p95 (s)", f"{pct(lat, 50):.2f} / {pct(lat, 95):.2f}"],
        [
            "time to first token p50 / p95, streamed (s)",
            f"{pct([r.ttft for r in streams], 50):.2f} / {pct([r.ttft for r in streams], 95):.2f}",
        ],
        [
            "upload latency p50 / max (s)",
            f"{pct([r.seconds for r in ups], 50):.2f} / {max([r.seconds for r in ups] or [0]):.2f}",
        ],
        ["new document found by the next request", f"{sum(r.ok for r in checks)} / {len(checks)}"],
        ["errors", len(errors)],
        ["lost documents", len(lost)],
    ]
    body = "\n\n".join(
        [
            header(
                f"`bench_serve_load.py --clients {a.clients} --questions {a.questions} --uploads {a.uploads} "
                f"--max-tokens {a.max_tokens}`: `ragtune serve` (uvicorn, one process) on loopback, "
                f"the bundled SmolLM2-135M Q4_1 on llama.cpp, a knowledge base of {a.paragraphs} SQuAD "
                "paragraphs, two passages per prompt. Generation is serialised on the one llama.cpp context, "
                "so latency grows with the number of clients while throughput stays that of one engine."
            ),
            table(["measure", "value"], rows),
        ]
    )
    if errors:
        body += "\n\nErrors:\n\n" + "\n".join(f"- {r.kind}: {r.error}" for r in errors[:10])
    if lost:
        body += "\n\nLost documents: " + ", ".join(lost)
    print(body)
    if a.write:
        write_section("Serving under load (bench_serve_load.py)", body)


if __name__ == "__main__":
    main()
