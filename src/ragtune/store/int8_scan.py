"""A first pass for the exact dense scan: the vectors as int8, multiplied by onnxruntime.

The float32 product over every vector of a version is memory-bound: at 100k x 384 it reads 154 MB
per query (12.9 ms on one thread here). An int8 copy with one scale per row (symmetric linear
quantisation, Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference") is a quarter of that, and onnxruntime's ``MatMulInteger``
(MLAS; VNNI where the CPU has it) multiplies it in 1.8 ms (benchmarks/RESULTS.md, "kernels for the
exact dense scan"). Its scores only choose candidates: the caller rescores them in float32, so the
scores it returns are exact cosines, and the top-k is the exact top-k unless a row of it falls
outside the candidates (``benchmarks/bench_search.py`` measures how often: recall@10 against the
float32 scan).

The query goes in as uint8 (``round(q / s) + 128``, the u8 x s8 form VNNI multiplies); the +128
is taken back off with each row's integer sum, then each row's scale is applied.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from typing import Any

import numpy as np

from ragtune.errors import missing_extra


def available() -> bool:
    """Whether the ``onnx`` extra (onnxruntime and onnx) is installed, without importing it."""
    return all(importlib.util.find_spec(pkg) is not None for pkg in ("onnxruntime", "onnx"))


@lru_cache(maxsize=8)
def _session(dim: int) -> Any:
    """The scan as one graph on one thread: uint8 query [1, dim] times int8 matrix [dim, n], each row's
    score as float (``* scale + bias``), and the best ``k`` of them (TopK: 0.2 ms where numpy's
    argpartition of 100k scores takes 1.7)."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto as T
        from onnx import helper as h
    except ImportError as e:
        raise missing_extra(e.name or "onnxruntime", "onnx") from None
    graph = h.make_graph(
        [h.make_node("MatMulInteger", ["q", "m"], ["y"]),
         h.make_node("Cast", ["y"], ["yf"], to=T.FLOAT),
         h.make_node("Mul", ["yf", "scale"], ["ys"]),
         h.make_node("Add", ["ys", "bias"], ["z"]),
         h.make_node("TopK", ["z", "k"], ["values", "rows"], axis=-1, largest=1, sorted=0)], "scan",
        [h.make_tensor_value_info("q", T.UINT8, [1, dim]), h.make_tensor_value_info("m", T.INT8, [dim, None]),
         h.make_tensor_value_info("scale", T.FLOAT, [None]), h.make_tensor_value_info("bias", T.FLOAT, [None]),
         h.make_tensor_value_info("k", T.INT64, [1])],
        [h.make_tensor_value_info("values", T.FLOAT, [1, None]), h.make_tensor_value_info("rows", T.INT64, [1, None])])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # the other core runs BM25 (or the next request) meanwhile
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


class Int8Scan:
    """An int8 copy of a float32 matrix (one scale per row) that finds a query's best candidate rows."""

    def __init__(self, matrix: np.ndarray):
        n, dim = matrix.shape
        self.session = _session(dim)
        peak = np.abs(matrix).max(axis=1)
        self.scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
        q8 = np.empty((dim, n), dtype=np.int8)  # transposed: [dim, n], as MatMulInteger takes it
        for start in range(0, n, 65_536):  # in slices, so the float temporaries stay small
            part = matrix[start:start + 65_536] / self.scale[start:start + 65_536, None]
            q8[:, start:start + len(part)] = np.rint(part).astype(np.int8).T
        self.matrix = q8
        # the query's +128 adds 128 x (the row's integer sum) to each raw score: taken back off here
        self.bias = (-128.0 * q8.sum(axis=0, dtype=np.int64) * self.scale).astype(np.float32)

    @property
    def nbytes(self) -> int:
        return self.matrix.nbytes + self.scale.nbytes + self.bias.nbytes

    def candidates(self, q: np.ndarray, c: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Positions of the ``c`` rows with the best approximate scores for the float32 query ``q``,
        in position order (``mask``: 0 or -inf per row; a -inf row comes last)."""
        peak = float(np.abs(q).max())
        qu = (np.rint(q * (127.0 / peak)) + 128.0 if peak > 0 else np.full(q.shape, 128.0)).astype(np.uint8)
        bias = self.bias if mask is None else self.bias + mask
        rows = self.session.run(["rows"], {"q": qu[None], "m": self.matrix, "scale": self.scale, "bias": bias,
                                           "k": np.array([min(c, self.matrix.shape[1])], np.int64)})[0][0]
        return np.sort(rows)
