"""Exact dense scan of 100k x 384 vectors, one query: kernels that could replace numpy's float32 product.

Issue 14's hybrid search p50 (20.8 ms at 100k chunks) is mostly the memory-bound float32 scan (154 MB per
query). This script times candidates for a cheaper first pass on seeded random unit vectors (median of
50 calls after one warm-up; one thread unless the row says otherwise) and checks that a half-precision
top-50 still holds the exact top-10, so that rescoring those 50 in float32 would give the exact answer::

    .venv/bin/python benchmarks/bench_dense_scan.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import threadpoolctl
import torch
from onnx import TensorProto, helper

N, DIM = 100_000, 384


def median_ms(f: Callable[[], object], repeats: int = 50) -> float:
    f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def int8_session() -> ort.InferenceSession:
    """One MatMulInteger node: uint8 query [1, d] times int8 matrix [d, n] (MLAS, VNNI on this CPU)."""
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["q", "m"], ["y"])], "scan",
        [helper.make_tensor_value_info("q", TensorProto.UINT8, [1, DIM]),
         helper.make_tensor_value_info("m", TensorProto.INT8, [DIM, None])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [1, None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts)


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    m = rng.standard_normal((N, DIM)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    q = m[123] + 0.1 * rng.standard_normal(DIM).astype(np.float32)
    q /= np.linalg.norm(q)
    rows: list[tuple[str, float]] = []
    with threadpoolctl.ThreadpoolController().limit(limits=1, user_api="blas"):
        rows.append(("numpy float32 (today's scan), 1 BLAS thread", median_ms(lambda: m @ q)))
    rows.append(("numpy float32, default BLAS threads (2)", median_ms(lambda: m @ q)))
    mt, qt = torch.from_numpy(m), torch.from_numpy(q)
    mb, qb = mt.to(torch.bfloat16), qt.to(torch.bfloat16)
    mh, qh = mt.to(torch.float16), qt.to(torch.float16)
    rows.append(("torch bfloat16 linear", median_ms(lambda: torch.nn.functional.linear(qb[None], mb))))
    rows.append(("torch float16 linear", median_ms(lambda: torch.nn.functional.linear(qh[None], mh))))
    scale = np.abs(m).max(axis=1, keepdims=True) / 127
    mi = np.ascontiguousarray(np.round(m / scale).astype(np.int8).T)
    qu = (np.round(q / (np.abs(q).max() / 127)) + 128).astype(np.uint8)[None]
    sess = int8_session()
    rows.append(("onnxruntime MatMulInteger int8", median_ms(lambda: sess.run(None, {"q": qu, "m": mi}))))
    scores = m @ q
    rows.append(("np.argpartition top-50 of 100k scores", median_ms(lambda: np.argpartition(-scores, 49)[:50])))
    for name, ms in rows:
        print(f"| {name} | {ms:.2f} | {ms / rows[0][1]:.2f} |")
    exact = set(np.argsort(-scores)[:10].tolist())
    approx = torch.nn.functional.linear(qb[None], mb).float()[0]
    print("bf16 top-50 holds the exact top-10:", len(exact & set(torch.topk(approx, 50).indices.tolist())), "of 10")
    # the query went in as uint8 (+128): take 128 x each row's sum back off, then undo each row's scale
    raw = sess.run(None, {"q": qu, "m": mi})[0][0].astype(np.float64)
    approx8 = (raw - 128 * mi.sum(axis=0, dtype=np.int64)) * scale[:, 0]
    top50 = np.argpartition(-approx8, 49)[:50]
    print("int8 top-50 holds the exact top-10:", len(exact & set(top50.tolist())), "of 10")


if __name__ == "__main__":
    main()
