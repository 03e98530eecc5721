"""The report's plots, drawn with matplotlib and returned as inline PNG data URIs.

The figures are built with matplotlib's object API on an Agg canvas (no pyplot, no global
backend switch), so rendering a report works in servers and tests without a display.
Every function returns None when the run has nothing to plot for it.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from ragtune.errors import missing_extra
from ragtune.evaluate.metrics import metric_info
from ragtune.evaluate.report.palette import color_of
from ragtune.evaluate.results import ComparisonResults, Estimate

QA_CHART_METRICS = ("exact_match", "token_f1", "answer_recall")
CLS_CHART_METRICS = ("accuracy", "macro_f1")


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise missing_extra("matplotlib", "report") from exc
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _data_uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _color(results: ComparisonResults, mode: str) -> str:
    """The mode's own colour (``palette``), the same as in the report's tables and cards."""
    return color_of(results, mode)


def _style(ax: Any) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def accuracy_chart(results: ComparisonResults) -> str | None:
    """Grouped bars of the task metrics per mode with their bootstrap intervals as error bars."""
    wanted = QA_CHART_METRICS if results.task == "qa" else CLS_CHART_METRICS
    metrics = [m for m in wanted if any(results.metric(mode, m) for mode in results.mode_names)]
    modes = [mode for mode in results.mode_names if any(results.metric(mode, m) for m in metrics)]
    if not metrics or not modes:
        return None
    fig = _figure(max(6.0, 1.2 * len(modes) * len(metrics) / 2 + 2), 3.6)
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        values, low, high = [], [], []
        for mode in modes:
            est = results.metric(mode, metric)
            v = 100 * est.value if est else 0.0
            values.append(v)
            low.append(v - 100 * est.lo if est and est.has_ci else 0.0)
            high.append(100 * est.hi - v if est and est.has_ci else 0.0)
        x = range(len(modes))
        ax.bar(x, values, color=[_color(results, m) for m in modes], yerr=[low, high], capsize=3,
               error_kw={"elinewidth": 1, "ecolor": "#222222"})
        for xi, v in zip(x, values, strict=True):
            ax.text(xi, v, f"{v:.1f}", ha="center", va="bottom", fontsize=7, color="#333333")
        ax.set_xticks(list(x), modes, rotation=35, ha="right", fontsize=8)
        ax.set_title(metric_info(metric).label, fontsize=10)
        _style(ax)
    axes[0].set_ylabel("score (0-100), 95% bootstrap CI")
    return _data_uri(fig)


def latency_chart(results: ComparisonResults) -> str | None:
    """Box plots of per-answer latency for each mode (log scale when the spread is wide)."""
    data = [(mode, [it.latency_ms for it in results.items_for(mode) if it.latency_ms is not None])
            for mode in results.mode_names]
    data = [(mode, values) for mode, values in data if values]
    if not data:
        return None
    fig = _figure(max(6.0, 0.9 * len(data) + 2), 3.4)
    ax = fig.subplots()
    box = ax.boxplot([v for _, v in data], patch_artist=True, showfliers=True, widths=0.6,
                     medianprops={"color": "#111111"})
    ax.set_xticks(range(1, len(data) + 1), [m for m, _ in data], rotation=35, ha="right", fontsize=8)
    for patch, (mode, _) in zip(box["boxes"], data, strict=True):
        patch.set_facecolor(_color(results, mode))
        patch.set_alpha(0.75)
    lows = [min(v) for _, v in data]
    highs = [max(v) for _, v in data]
    if min(lows) > 0 and max(highs) / min(lows) > 50:
        ax.set_yscale("log")
    ax.set_ylabel("latency per answer (ms)")
    _style(ax)
    return _data_uri(fig)


def cost_chart(results: ComparisonResults) -> str | None:
    """Left: what each mode stores on disk; right: its set-up time.

    Base model, adapter and index are stacked (they are deployed together); a merged model is
    the alternative to base + adapter, so it stands beside the stack as its own hatched bar.
    """
    modes = [m for m in results.mode_names if m in results.costs]
    if not modes:
        return None
    parts = (("base_model_bytes", "base model", "#c8c8c8"), ("adapter_bytes", "adapter", "#d9822b"),
             ("merged_bytes", "merged model", "#f2b880"), ("index_bytes", "index", "#2f6db5"))
    has_sizes = any(getattr(results.costs[m], key) for m in modes for key, _, _ in parts)
    has_setup = any(results.costs[m].setup_s is not None for m in modes)
    if not has_sizes and not has_setup:
        return None
    panels = int(has_sizes) + int(has_setup)
    fig = _figure(max(6.0, 1.0 * len(modes) * panels + 2), 3.6)
    axes = list(fig.subplots(1, panels, squeeze=False)[0])
    x = list(range(len(modes)))
    if has_sizes:
        ax = axes.pop(0)
        bottom = [0.0] * len(modes)
        stacked = [x_ - 0.14 for x_ in x]
        for key, label, color in parts:
            sizes = [(getattr(results.costs[m], key) or 0) / 2**20 for m in modes]
            if not any(sizes):
                continue
            if key == "merged_bytes":
                ax.bar([x_ + 0.28 for x_ in x], sizes, width=0.28, color="white", edgecolor=color, hatch="///",
                       label="merged model (instead of base + adapter)")
                continue
            ax.bar(stacked, sizes, width=0.55, bottom=bottom, color=color, label=label)
            bottom = [b + s for b, s in zip(bottom, sizes, strict=True)]
        ax.set_xticks(x, modes, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("disk (MB)")
        ax.set_title("Size on disk", fontsize=10)
        ax.legend(fontsize=7, frameon=False)
        _style(ax)
    if has_setup:
        ax = axes.pop(0)
        setup = [results.costs[m].setup_s or 0.0 for m in modes]
        ax.bar(x, setup, color=[_color(results, m) for m in modes])
        ax.set_xticks(x, modes, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("seconds")
        ax.set_title("Set-up time (ingest or training)", fontsize=10)
        _style(ax)
    return _data_uri(fig)


def freshness_chart(results: ComparisonResults) -> str | None:
    """Per mode: new-fact accuracy before and after the update, old answers after, and after retraining."""
    if not results.freshness:
        return None
    series = (("new_before", "new facts, before update", "#bdbdbd"),
              ("new_after", "new facts, after update", "#2f6db5"),
              ("old_after", "old answers still given", "#c0504d"),
              ("new_after_retrain", "new facts, after retraining", "#d9822b"))
    series = tuple(s for s in series if any(getattr(f, s[0]) for f in results.freshness))
    modes = [f.mode for f in results.freshness]
    fig = _figure(max(6.0, 1.3 * len(modes) + 2), 3.6)
    ax = fig.subplots()
    width = 0.8 / max(1, len(series))
    for i, (key, label, color) in enumerate(series):
        values, low, high = [], [], []
        for f in results.freshness:
            est = getattr(f, key)
            v = 100 * est.value if est else 0.0
            values.append(v)
            low.append(v - 100 * est.lo if est and est.has_ci else 0.0)
            high.append(100 * est.hi - v if est and est.has_ci else 0.0)
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(modes))]
        ax.bar(xs, values, width=width, color=color, label=label, yerr=[low, high], capsize=2,
               error_kw={"elinewidth": 1})
    ax.set_xticks(range(len(modes)), modes, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("accuracy (0-100)")
    ax.set_ylim(0, 105)
    fig.legend(loc="outside upper center", fontsize=7, frameon=False, ncols=2)
    _style(ax)
    return _data_uri(fig)


def learning_curve_chart(results: ComparisonResults) -> str | None:
    """The learning curve: each fine-tuned mode's score against its labelled training data (the nested
    shares, log scale) with 95% intervals as error bars; the untrained modes (rag and base, or zero-shot
    and rag) as flat dashed lines, their intervals as bands."""
    lc = results.learning_curve
    if not lc or not lc.get("points"):
        return None
    by_mode: dict[str, list[dict[str, Any]]] = {}
    for p in lc["points"]:
        by_mode.setdefault(p["mode"], []).append(p)
    fig = _figure(7.0, 3.8)
    ax = fig.subplots()
    for mode, e in lc.get("flat", {}).items():
        est = Estimate.from_dict(e)
        color = _color(results, mode)
        if est.has_ci:
            ax.axhspan(100 * est.lo, 100 * est.hi, color=color, alpha=0.12, linewidth=0)
        ax.axhline(100 * est.value, color=color, linestyle="--", linewidth=1.5, label=f"{mode} (no training)")
    for i, (mode, pts) in enumerate(by_mode.items()):
        shift = 2 ** (0.04 * (i - (len(by_mode) - 1) / 2))  # side by side on the log axis: bars do not hide
        values, low, high = [], [], []
        for p in pts:
            est = Estimate.from_dict(p["score"])
            values.append(100 * est.value)
            low.append(100 * (est.value - est.lo) if est.has_ci else 0.0)
            high.append(100 * (est.hi - est.value) if est.has_ci else 0.0)
        ax.errorbar([p["n_train"] * shift for p in pts], values, yerr=[low, high], color=_color(results, mode),
                    marker="o", markersize=4, linewidth=1.8, capsize=3, elinewidth=1, label=mode)
    ticks = sorted({(p["n_train"], p["fraction"]) for p in lc["points"]})
    ax.set_xscale("log", base=2)
    ax.set_xticks([n for n, _ in ticks], [f"{n}\n({100 * f:g}%)" for n, f in ticks], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("labelled training examples (share of the training set)", fontsize=9)
    ax.set_ylabel(f"{metric_info(lc['metric']).label} (0-100), 95% CI", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="best")
    _style(ax)
    return _data_uri(fig)
