"""The measuring commands of ``nexus``: ``measure``, ``validate`` (per node under Nsight
Compute) and ``calibrate``."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import NexusError
from ..types import TensorType, parse_input_shapes
from . import common


def _measured_model(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """(runner, the model NEXUS compiles for the same run, a label) for measure/validate."""
    from runtime.execute import onnx_runner, torch_runner

    from frontends.pytorch import torch_factory

    if args.model.endswith(".onnx"):
        from frontends.onnx import load_model
        import numpy as np
        shapes = parse_input_shapes(args.input_shape)
        if not shapes:
            raise NexusError("an ONNX model needs --input-shape for every input to be run")
        feeds = {k: np.random.default_rng(0).standard_normal(
            v.shape if isinstance(v, TensorType) else v).astype(np.float32)
            for k, v in shapes.items()}
        if args.execution != "eager":
            raise NexusError(f"--execution {args.execution}: ONNX models are measured as "
                             "onnxruntime runs them; use --execution eager")
        provider = "CUDAExecutionProvider" if args.device == "cuda" else "CPUExecutionProvider"
        load_model(args.model)            # a missing or corrupt file fails here, in one line
        return onnx_runner(args.model, feeds, provider), args.model, Path(args.model).stem
    from runtime.execute import model_dtype

    model, inputs = torch_factory(args.model, parse_input_shapes(args.input_shape))
    args.dtype = args.dtype or model_dtype(model)
    predicted = (copy.deepcopy(model).to("cpu"), tuple(x.to("cpu") for x in inputs))
    return torch_runner(model, inputs, args.device, args.dtype, args.execution), predicted, \
        type(model).__name__


def _meter(args: argparse.Namespace) -> Any:
    from runtime.meters import meter

    return meter(args.meter or ("nvml" if args.device == "cuda" else "rapl"))


def _measure_document(args: argparse.Namespace) -> dict[str, Any]:
    """Measure one model and predict it: the measurement file's contents."""
    from runtime.calibrate import MEASUREMENT_SCHEMA
    from runtime.meters import measure

    from .api import compile as compile_model

    meter = _meter(args)
    runner, model, label = _measured_model(args)
    with common.progress_console().status(f"measuring {label} ({runner.description})"):
        result = measure(runner.call, meter, window_s=args.window, windows=args.windows,
                         sync=runner.sync)
    if isinstance(model, tuple):
        module, inputs = model
        from runtime.execute import prepare_torch
        module, inputs = prepare_torch(module, inputs, "cpu", args.dtype)
        report = compile_model(module, tuple(inputs), target=args.target,
                               execution=args.execution, math=args.math)
    else:
        report = compile_model(model, {k: v for k, v in parse_input_shapes(
            args.input_shape).items()}, target=args.target, execution=args.execution,
            math=args.math)
    domain = result.domains[0] if len(result.domains) == 1 else "package-0"
    return {"schema": MEASUREMENT_SCHEMA, "model": label, "spec": args.model,
            "inputs": args.input_shape, "dtype": args.dtype, "execution": args.execution,
            "math": args.math, "device": runner.description,
            "meter": meter.name, "domain": domain, "energy_j": result.joules[domain],
            "cv": result.cv[domain], "above_idle_j": result.above_idle_j[domain],
            "idle_w": result.idle_w.get(domain), "seconds_per_call": result.seconds_per_call,
            "windows": result.windows, "calls_per_window": result.calls_per_window,
            "report": report.to_dict()}


def _print_measurement(doc: Mapping[str, Any]) -> None:
    predicted = doc["report"]["metrics"]["energy_j"]
    print(f"{doc['model']} on {doc['device']}, meter {doc['meter']} ({doc['domain']})")
    print(f"  measured   {doc['energy_j']:.4g} J per inference (CV {doc['cv']:.3f}, "
          f"{doc['windows']} windows of {doc['calls_per_window']} calls), "
          f"{doc['above_idle_j']:.4g} J above {doc['idle_w']:.4g} W idle, "
          f"{doc['seconds_per_call']:.4g} s per inference")
    print(f"  predicted  {predicted:.4g} J on {doc['report']['target']['name']} "
          f"({(predicted - doc['energy_j']) / doc['energy_j']:+.1%}), latency "
          f"{doc['report']['metrics']['latency_s']:.4g} s")


def _measured(args: argparse.Namespace) -> dict[str, Any]:
    """Measure, print, and write the measurement when ``-o`` asks for it."""
    doc = _measure_document(args)
    _print_measurement(doc)
    if args.output:
        common.write_output(args.output, json.dumps(doc, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    return doc


def cmd_measure(args: argparse.Namespace) -> int:
    _measured(args)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from runtime.ncu import attribute, profile

    from .api import compile as compile_model

    if args.model.endswith(".onnx"):
        raise NexusError("per-node validation runs PyTorch models (file.py:factory) under ncu")
    doc = _measured(args)
    from frontends.pytorch import export, from_exported
    from frontends.pytorch import torch_factory
    from runtime.execute import prepare_torch

    module, inputs = prepare_torch(*torch_factory(args.model, parse_input_shapes(
        args.input_shape)), "cpu", args.dtype)
    graph = from_exported(export(module, inputs))
    report = compile_model(graph, target=args.target)
    console = common.progress_console()
    with console.status(f"profiling under ncu (cache control {args.cache_control})"):
        kernels = profile(["-m", "runtime.execute", args.model, "--dtype", args.dtype,
                           "--input-shape", *args.input_shape], args.cache_control)
    measured, outside = attribute(kernels, graph)
    print(f"per node (ncu, --clock-control none, --cache-control {args.cache_control}; "
          f"{len(kernels)} kernels, {len(outside)} outside any node):")
    print(f"  {'node':<10}{'op':<16}{'kernels':>8}{'FLOPs pred':>14}{'FLOPs ncu':>14}"
          f"{'DRAM B pred':>14}{'DRAM B ncu':>14}{'time pred':>12}{'time ncu':>12}")
    pairs = [(node, measured[node.name]) for node in report.nodes
             if node.modeled and node.name in measured]
    for node, got in pairs:
        print(f"  %{node.name:<9}{node.op:<16}{got.kernels:>8}{node.flops:>14,}"
              f"{got.flops:>14,.0f}{node.off_chip_bytes:>14,}{got.dram_bytes:>14,.0f}"
              f"{node.time_s:>12.3g}{got.time_s:>12.3g}")
    if args.plot:
        from .render_html import validation_html
        common.write_output(args.plot, validation_html(doc, pairs, args.cache_control))
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from lowering.target import load_target
    from lowering.target import write_target
    from runtime.calibrate import (COEFFICIENTS, PRIOR_SIGMA, calibrated_target, fit,
                                   leave_one_model_out, load_measurements)

    docs = load_measurements(args.measurements)
    base = load_target(args.target)
    names = {d["report"]["target"]["name"] for d in docs}
    if names != {base.name}:
        raise NexusError(f"the measurements were predicted on {', '.join(sorted(names))}; "
                         f"calibrate them against that target, not {base.name}")
    fitted = fit(docs)
    models = sorted({d["model"] for d in docs})
    cv = leave_one_model_out(docs) if len(models) > 1 else None
    source = (f"calibrated: regularized fit (log-normal prior, sigma {PRIOR_SIGMA}) over "
              f"{len(docs)} measurements of {len(models)} models"
              + (f", leave-one-model-out median error {cv.median_ape:.1%}" if cv else ""))
    print(f"fitted on {len(docs)} measurements of {len(models)} models "
          f"(multipliers of {base.name}'s own numbers):")
    for name in COEFFICIENTS:
        state = "determined" if name in fitted.determined else "kept (not determined)"
        print(f"  {name:<12} ×{fitted.multipliers[name]:.4g}  {state}")
    if cv:
        print(f"leave-one-model-out: median absolute error {cv.median_ape:.1%}")
        for model, error in cv.per_model_mape.items():
            print(f"  {model:<24} {error:.1%}")
    name = Path(args.output).stem
    write_target(calibrated_target(base.path, fitted, name, source), args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
