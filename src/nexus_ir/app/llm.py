"""Joules per token of a decoder LLM over batch and context: ``nx.llm`` and ``nexus llm``.

Each (batch, context) point costs two graphs of ``frontends.llm`` built once with symbolic
sizes and bound per point: the prefill of ``context`` prompt tokens per sequence, and one decode
step at the mean cache length of the generation (``context + generate/2``; a step's cost is
linear in the cache length, so the mean step is the mean of the steps). Per point:

- prefill: J/token = E_prefill / (batch · context); time to first token = its latency;
- decode: J/token = E_step / batch; time per output token = the step's latency; tokens/s =
  batch / that time;
- per request: (E_prefill + generate · E_step) / batch;
- memory: weights + KV cache of ``context + generate`` positions (a sliding window caps it) +
  the prefill's peak activations, against the target's off-chip capacity. A point that does not
  fit is marked ``fits: false`` and not costed.

How the cache grows follows the execution mode: eager PyTorch with transformers'
``DynamicCache`` concatenates (the step moves the cache three times); CUDA-graph and fused
execution, as engines run them, write the new position in place and read the cache once.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import NexusError
from .common import si

DTYPES = ("bf16", "f16", "fp8", "int8", "int4")
"""Weight and KV-cache formats: native floats, or integers dequantized inside the GEMM."""
_IR_DTYPE = {"bf16": "bf16", "f16": "f16", "fp8": "f8e4m3", "int8": "i8", "int4": "i4"}


@dataclass(frozen=True)
class LLMRow:
    """One phase of one (batch, context) point; the costs are None where it does not fit."""

    model: str
    target: str
    execution: str
    weights: str
    kv: str
    batch: int
    context: int
    generate: int
    phase: str
    fits: bool
    memory_bytes: int
    capacity_bytes: int
    weights_bytes: int
    kv_cache_bytes: int
    activation_bytes: int
    j_per_token: float | None
    s_per_token: float | None
    time_to_first_token_s: float | None
    tokens_per_s: float | None
    tokens_per_j: float | None
    j_per_request: float | None


class LLMSweep(list):
    """The rows of a sweep (a list of ``LLMRow``), with JSON, CSV and DataFrame views."""

    def dicts(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self]

    def to_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.dicts())

    def to_json(self) -> str:
        return json.dumps({"rows": self.dicts()}, indent=2, sort_keys=True, allow_nan=False)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(LLMRow.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(self.dicts())
        return out.getvalue()


def _format(name: str, what: str) -> str:
    if name not in DTYPES:
        raise NexusError(f"{what} {name!r}: choose one of {', '.join(DTYPES)}")
    return _IR_DTYPE[name]


def _sizes(values: Iterable[int], what: str) -> list[int]:
    sizes = [int(v) for v in values]
    if not sizes or any(v < 1 for v in sizes):
        raise NexusError(f"--{what} needs positive sizes, got {list(values)}")
    return sizes


def llm(model: Any, target: Any = "h200", *, batch: Sequence[int] = (1,),
        context: Sequence[int] = (512,), generate: int = 256, execution: str = "eager",
        weights: str = "bf16", kv: str = "bf16", dtype: str = "bf16",
        routing: Sequence[float] | None = None) -> LLMSweep:
    """Prefill and decode rows for every batch × context (module doc) of a decoder given as a
    transformers config, a model holding one, a ``config.json`` path or a dict. Activations run
    at ``dtype``; ``weights`` other than it are stored at that format and dequantized: as their
    own kernels in eager and CUDA-graph execution (as PyTorch runs them), inside the GEMM in
    fused execution. ``routing`` is a mixture of experts' load (``frontends.llm.routing_load``
    on calibration inputs; default uniform)."""
    from frontends.llm import decoder_graph, decoder_spec
    from lowering.target import EXECUTION_MODES, Quantity, load_target

    from .api import compile as nexus_compile

    if execution not in EXECUTION_MODES:
        raise NexusError(f"execution {execution!r}: choose one of {', '.join(EXECUTION_MODES)}")
    if generate < 1:
        raise NexusError(f"generate must be at least 1 token, got {generate}")
    batches, contexts = _sizes(batch, "batch"), _sizes(context, "context")
    w_dt, kv_dt = _format(weights, "weights"), _format(kv, "kv")
    if dtype not in ("bf16", "f16"):
        raise NexusError(f"dtype {dtype!r}: activations run at bf16 or f16")
    if kv in ("int8", "int4"):
        raise NexusError(f"kv {kv!r}: the KV cache is stored as bf16, f16 or fp8")
    tgt = target if hasattr(target, "off_chip") else load_target(target)
    if w_dt != _IR_DTYPE[dtype] and execution == "fused":
        # a graph compiler dequantizes weights inside the GEMM that reads them
        tgt = dataclasses.replace(tgt, fused_dequantize=Quantity(
            1.0, "fused execution: weights dequantized inside the GEMM that reads them"))
    spec = decoder_spec(model)
    cache = "concat" if execution == "eager" else "append"
    options = {"weights": w_dt, "kv": kv_dt, "cache": cache}
    graphs: dict[str, Any] = {} if spec.experts else {
        phase: decoder_graph(spec, phase, dtype, **options) for phase in ("prefill", "decode")}
    capacity = int(tgt.off_chip.capacity_bytes.value)
    weight_bytes = (spec.parameters() * _bits(w_dt)) // 8
    rows = LLMSweep()
    for b in batches:
        for ctx in contexts:
            steps = min(ctx + generate, spec.sliding_window or ctx + generate)
            kv_bytes = b * steps * spec.kv_bytes_per_token(_bits(kv_dt))
            mean = min(ctx + generate // 2, spec.sliding_window or ctx + generate)

            def cost(phase: str, bindings: dict[str, int], tokens: int) -> Any:
                graph = graphs.get(phase) or decoder_graph(
                    spec, phase, dtype, **options, routed_tokens=tokens, routing=routing)
                with warnings.catch_warnings():    # the row says whether the point fits
                    warnings.simplefilter("ignore", UserWarning)
                    return nexus_compile(graph, target=tgt, bindings=bindings,
                                         execution=execution)

            prefill = cost("prefill", {"batch": b, "seq": ctx}, b * ctx) \
                if weight_bytes + kv_bytes <= capacity else None
            # the prefill's live bytes hold the cache it writes: counted once, in kv_bytes
            activations = prefill.metrics["peak_activation_bytes"] - \
                b * ctx * spec.kv_bytes_per_token(_bits(kv_dt)) if prefill else 0
            need = weight_bytes + kv_bytes + activations
            fits = prefill is not None and need <= capacity
            common = dict(model=spec.name, target=tgt.name, execution=execution,
                          weights=weights, kv=kv, batch=b, context=ctx, generate=generate,
                          fits=fits, memory_bytes=need, capacity_bytes=capacity,
                          weights_bytes=weight_bytes, kv_cache_bytes=kv_bytes,
                          activation_bytes=activations)
            if not fits:
                rows += [LLMRow(**common, phase=p, j_per_token=None, s_per_token=None,
                                time_to_first_token_s=None, tokens_per_s=None,
                                tokens_per_j=None, j_per_request=None) for p in
                         ("prefill", "decode")]
                continue
            decode_bind = {"batch": b, "past": mean} if cache == "append" else \
                {"batch": b, "past_old": mean - 1}
            step = cost("decode", decode_bind, b)
            e_pre, t_pre = prefill.metrics["energy_j"], prefill.metrics["latency_s"]
            e_step, t_step = step.metrics["energy_j"], step.metrics["latency_s"]
            request = (e_pre + generate * e_step) / b
            rows.append(LLMRow(**common, phase="prefill", j_per_token=e_pre / (b * ctx),
                               s_per_token=t_pre / (b * ctx), time_to_first_token_s=t_pre,
                               tokens_per_s=b * ctx / t_pre, tokens_per_j=b * ctx / e_pre,
                               j_per_request=request))
            rows.append(LLMRow(**common, phase="decode", j_per_token=e_step / b,
                               s_per_token=t_step, time_to_first_token_s=t_pre,
                               tokens_per_s=b / t_step, tokens_per_j=b / e_step,
                               j_per_request=request))
    return rows


def _bits(ir_dtype: str) -> int:
    from nexus_ir import dtype

    return dtype(ir_dtype).bits


def sweep_table(rows: LLMSweep) -> Any:
    """A rich table of the sweep, one row per point and phase."""
    from rich import box
    from rich.table import Table

    first = rows[0]
    table = Table(box=box.SIMPLE, title=f"{first.model} on {first.target}, {first.execution}, "
                  f"weights {first.weights}, KV cache {first.kv}, {first.generate} tokens "
                  "generated per request", title_justify="left")
    for name in ("batch", "context", "phase", "J/token", "s/token", "first token", "tokens/s",
                 "tokens/J", "J/request", "memory", "fits"):
        table.add_column(name, justify="left" if name == "phase" else "right")
    for r in rows:
        table.add_row(str(r.batch), str(r.context), r.phase, si(r.j_per_token, "J"),
                      si(r.s_per_token, "s"), si(r.time_to_first_token_s, "s"),
                      "—" if r.tokens_per_s is None else f"{r.tokens_per_s:,.0f}",
                      "—" if r.tokens_per_j is None else f"{r.tokens_per_j:,.1f}",
                      si(r.j_per_request, "J"), si(r.memory_bytes, "B"),
                      "yes" if r.fits else f"no (> {si(r.capacity_bytes, 'B')})")
    return table


def sweep_html(rows: LLMSweep) -> str:
    """A self-contained page: J/token against batch per context, prefill and decode, and the
    table."""
    import plotly.graph_objects as go

    from .render_html import _esc, _layout, _page

    figures = []
    for phase in ("prefill", "decode"):
        fig = go.Figure(layout=_layout(f"{phase}: J/token against batch", height=420,
                                       xaxis={"type": "log", "title": {"text": "batch"}},
                                       yaxis={"type": "log", "title": {"text": "J/token"}}))
        for ctx in sorted({r.context for r in rows}):
            points = [r for r in rows if r.phase == phase and r.context == ctx and r.fits]
            fig.add_trace(go.Scatter(x=[r.batch for r in points],
                                     y=[r.j_per_token for r in points], mode="lines+markers",
                                     name=f"context {ctx}"))
        figures.append((f"llm-{phase}", fig))
    header = ("<tr>" + "".join(f"<th>{h}</th>" for h in (
        "batch", "context", "phase", "J/token", "s/token", "tokens/s", "J/request", "memory",
        "fits")) + "</tr>")
    body = "".join(
        f"<tr><td>{r.batch}</td><td>{r.context}</td><td>{r.phase}</td>"
        f"<td>{si(r.j_per_token, 'J')}</td><td>{si(r.s_per_token, 's')}</td>"
        f"<td>{'—' if r.tokens_per_s is None else f'{r.tokens_per_s:,.0f}'}</td>"
        f"<td>{si(r.j_per_request, 'J')}</td><td>{si(r.memory_bytes, 'B')}</td>"
        f"<td>{'yes' if r.fits else 'no'}</td></tr>" for r in rows)
    first = rows[0]
    title = f"{first.model} on {first.target}: joules per token"
    page = (f"<h1>{_esc(title)}</h1><p>{_esc(first.execution)} execution, weights "
            f"{_esc(first.weights)}, KV cache {_esc(first.kv)}, {first.generate} tokens per "
            "request</p>" + "".join(f"<div class='chart' id='{fid}'></div>" for fid, _ in figures)
            + f"<table>{header}{body}</table>")
    return _page(title, page, figures)
