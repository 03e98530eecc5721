"""Serving under load: N concurrent clients ask, for several ``serve.parallel`` settings side by side.

Builds a small knowledge base from ``examples/knowledge``, then for each ``--parallel`` setting
starts ``ragtune serve --set serve.parallel=P`` (a real uvicorn process on a loopback port) in
turn and, once its models and contexts are loaded, all at once:

- ``--clients`` threads each ask the same ``--questions`` questions of ``rag:load`` through
  ``/v1/chat/completions`` as in every other round (every other one streamed; short answers of
  ``--short-tokens`` and long ones of ``--long-tokens`` alternate, so a short one can queue behind
  a long one), recording latency, time to first token and any error (a non-200 status or an error
  event in the stream);
- with ``--uploads N``, one uploader adds N new documents, each with a fact invented for it, and
  right after each upload searches for that fact: the very next request must find the new
  document (each round then starts from its own copy of the knowledge base).

Settings run in the order 1, 2, 4, 4, 2, 1 (``--rounds 2``; each round asks every question once),
so a drift of the machine's load during the run falls on every setting alike. Throughput is
answers per second of wall time summed over a setting's rounds; latencies are per answer.
Bounded: every client stops at ``--time-limit`` seconds of a round.

    .venv/bin/python benchmarks/bench_serve_load.py --clients 8 --questions 3
    .venv/bin/python benchmarks/bench_serve_load.py --parallel 1 --clients 4 --uploads 5
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
    threads: float | None = None  # llama.cpp threads the answer started with (ragtune.timings.threads)
    short: bool = False


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


def start_server(data_dir: Path, port: int, max_tokens: int, parallel: int) -> subprocess.Popen:
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
        "--set",
        f"serve.parallel={parallel}",
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
            threads = r.json()["ragtune"]["timings"].get("threads") if r.status_code == 200 else None
            return Record("ask", time.perf_counter() - t0, ok, None, toks, "" if ok else r.text[:200], threads)
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
        threads = final["ragtune"]["timings"].get("threads") if final else None
        return Record("ask-stream", time.perf_counter() - t0, ok, ttft, toks, err, threads)
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


def requests_for(client: int, questions: list[str], k: int, short: int, long: int) -> list[tuple[str, int, bool]]:
    """(question, max_tokens, stream) of one client, the same in every round: short and long answers
    alternate, and so do streamed and whole ones (across clients too, so one question each mixes all four)."""
    return [(questions[(client * 7 + j) % len(questions)], long if (client + j) % 2 == 0 else short,
             (client // 2 + j) % 2 == 1) for j in range(k)]


def asker(base: str, requests: list[tuple[str, int, bool]], short: int, log: Log, stop_at: float) -> None:
    with httpx.Client(base_url=base, timeout=600) as c:
        for question, max_tokens, stream in requests:
            if time.monotonic() > stop_at:
                break
            r = ask(c, question, stream=stream, max_tokens=max_tokens)
            r.short = max_tokens == short
            log.add(r)


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


@dataclass
class Round:
    parallel: int
    wall: float
    log: Log
    acked: list[str]
    lost: list[str]
    server_errors: list[str]


def run_round(kb_data: Path, work: Path, parallel: int, a: argparse.Namespace, questions: list[str]) -> Round:
    """One server with ``serve.parallel=parallel``: warm it, run the clients (and uploads), stop it."""
    data = kb_data
    if a.uploads:  # uploads change the knowledge base: each round starts from its own copy
        data = work / f"round-{time.monotonic_ns()}" / "data"
        shutil.copytree(kb_data, data)
    port = free_port()
    proc = start_server(data, port, a.long_tokens, parallel)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=300) as c:
            ask(c, questions[0], False, 2)  # load the embedder, the engines and all their contexts
        log, acked = Log(), []
        stop_at = time.monotonic() + a.time_limit
        threads = [
            threading.Thread(target=asker, args=(base, requests_for(i, questions, a.questions, a.short_tokens,
                                                                     a.long_tokens), a.short_tokens, log, stop_at))
            for i in range(a.clients)
        ]
        if a.uploads:
            threads.append(
                threading.Thread(target=uploader, args=(base, a.uploads, a.upload_gap, log, acked, stop_at))
            )
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        lost = lost_documents(base, acked) if a.uploads else []
        metrics = httpx.get(f"{base}/metrics").text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    five = [line for line in metrics.splitlines() if line.startswith("ragtune_requests_total") and 'status="5' in line]
    return Round(parallel, wall, log, acked, lost, five)


def order_of(settings: list[int], rounds: int) -> list[int]:
    """1, 2, 4, 4, 2, 1 for two rounds: forward, then backward, and so on."""
    return [p for r in range(rounds) for p in (settings if r % 2 == 0 else settings[::-1])]


def summary(parallel: int, rounds: list[Round], uploads: bool) -> list:
    records = [r for rd in rounds for r in rd.log.records]
    asks = [r for r in records if r.kind in ("ask", "ask-stream")]
    ok = [r for r in asks if r.ok]
    wall = sum(rd.wall for rd in rounds)
    lat = [r.seconds for r in ok]
    short = [r.seconds for r in ok if r.short]
    long = [r.seconds for r in ok if not r.short]
    ttft = [r.ttft for r in ok if r.ttft is not None]
    threads = [r.threads for r in ok if r.threads is not None]
    errors = sum(not r.ok for r in records) + sum(len(rd.server_errors) for rd in rounds)
    row = [parallel, f"{len(ok)} / {len(asks)}", round(wall, 1), round(len(ok) / wall, 3),
           round(sum(r.tokens for r in asks) / wall, 1), f"{pct(lat, 50):.2f} / {pct(lat, 95):.2f}",
           f"{pct(short, 50):.2f} / {pct(short, 95):.2f}", f"{pct(long, 50):.2f} / {pct(long, 95):.2f}",
           f"{pct(ttft, 50):.2f}", f"{sum(threads) / len(threads):.2f}" if threads else "n/a", errors]
    if uploads:
        checks = [r for r in records if r.kind == "check"]
        row += [f"{sum(len(rd.acked) for rd in rounds)} / {sum(r.kind == 'upload' for r in records)}",
                f"{sum(r.ok for r in checks)} / {len(checks)}", sum(len(rd.lost) for rd in rounds)]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parallel", default="1,2,4", help="serve.parallel settings, comma-separated")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per setting, in alternating order")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--questions", type=int, default=3, help="questions per client and round")
    ap.add_argument("--short-tokens", type=int, default=8, help="max_tokens of the short answers")
    ap.add_argument("--long-tokens", type=int, default=64, help="max_tokens of the long answers")
    ap.add_argument("--uploads", type=int, default=0, help="documents uploaded during each round")
    ap.add_argument("--upload-gap", type=float, default=1.0, help="seconds between uploads")
    ap.add_argument("--paragraphs", type=int, default=12, help="paragraphs in the starting knowledge base")
    ap.add_argument(
        "--time-limit", type=float, default=300.0, help="clients stop starting requests after this, per round"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    ap.add_argument("--write", action="store_true", help="replace this benchmark's section of RESULTS.md")
    a = ap.parse_args()
    settings = [int(x) for x in a.parallel.split(",") if x.strip()]

    work = Path(tempfile.mkdtemp(prefix="ragtune-serve-load-"))
    data = work / "data"
    rounds: list[Round] = []
    try:
        t = time.perf_counter()
        questions = build_kb(data, a.paragraphs)
        print(
            f"knowledge base of {a.paragraphs} paragraphs built in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        for p in order_of(settings, a.rounds):
            rd = run_round(data, work, p, a, questions)
            rounds.append(rd)
            print(f"parallel={p}: {sum(r.ok for r in rd.log.records)} ok in {rd.wall:.1f} s", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    head = ["serve.parallel", "answers ok / all", "wall (s)", "answers/s", "completion tokens/s",
            "latency p50 / p95 (s)", "short answers p50 / p95 (s)", "long answers p50 / p95 (s)",
            "first token p50, streamed (s)", "threads per answer (mean)", "errors"]
    if a.uploads:
        head += ["uploads acked / tried", "new document found next", "lost documents"]
    rows = [summary(p, [rd for rd in rounds if rd.parallel == p], bool(a.uploads)) for p in settings]
    cmd = (f"`bench_serve_load.py --parallel {a.parallel} --rounds {a.rounds} --clients {a.clients} "
           f"--questions {a.questions} --short-tokens {a.short_tokens} --long-tokens {a.long_tokens}"
           + (f" --uploads {a.uploads}" if a.uploads else "") + "`")
    order = ", ".join(map(str, order_of(settings, a.rounds)))
    body = "\n\n".join(
        [
            header(
                f"{cmd}: `ragtune serve` (uvicorn, one process) on loopback, the bundled SmolLM2-135M Q4_1 on "
                f"llama.cpp (with the reader adapter, as `rag` answers by default), a knowledge base of "
                f"{a.paragraphs} SQuAD paragraphs, two passages per prompt; {a.clients} clients each asking "
                f"{a.questions} questions per round (short answers of {a.short_tokens} tokens and long ones of "
                f"{a.long_tokens} alternating), settings in the order {order}, "
                "one fresh server per round. generation.threads is automatic (the cores not busy elsewhere), "
                "split between the answers decoding at once."
            ),
            table(head, rows),
            "Rounds in the order run (serve.parallel: wall seconds): "
            + ", ".join(f"{rd.parallel}: {rd.wall:.1f}" for rd in rounds) + ".",
        ]
    )
    errors = [r for rd in rounds for r in rd.log.records if not r.ok]
    if errors:
        body += "\n\nErrors:\n\n" + "\n".join(f"- {r.kind}: {r.error}" for r in errors[:10])
    five = [line for rd in rounds for line in rd.server_errors]
    if five:
        body += "\n\nServer 5xx:\n\n" + "\n".join(f"- {line}" for line in five[:10])
    print(body)
    if a.write:
        write_section("Serving: parallel llama.cpp contexts (bench_serve_load.py)", body)


if __name__ == "__main__":
    main()
