"""Sweeps: the cross product of models × bindings × targets × execution modes × rewrites,
costed before anything runs, cached by content hash, and spread over a process pool, a Dask
cluster or a Ray cluster through that engine's own API.

A spec is a TOML file::

    models = ["example:resnet50", "net.py:small@x=1x3x64x64"]
    targets = ["h100", "l4", "x86-server"]
    execution = ["eager", "cuda-graph"]      # default: eager
    rewrites = ["none", "precision bf16"]    # default: none; names as nexus diagnose lists them
    math = "default"                         # fp32 math mode
    grid = "FR"                              # optional: carbon per point; pue = 1.2
    [bind]
    batch = [1, 8, 64]

Each model is one task: it is loaded and lowered once per binding (a PyTorch module is exported
at each batch it is bound to, other graphs bind their symbols), its weights' bit statistics are
read once, and every target × execution × rewrite point of it is re-costed from there. A point's
cache key hashes everything its figures depend on: NEXUS's own source, the model as given and the
bytes of its file (a folder: every file in it; a module it imports is not seen — clear the cache
after editing one), its shapes and binding, the bytes of the target files along its ``base``
chain, the execution, math, rewrite, grid and PUE. A re-run computes only the points whose key
is not cached, and loads only their models.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__, collector
from ..errors import NexusError

NO_REWRITE = "none"
SPEC_KEYS = ("models", "targets", "execution", "rewrites", "math", "grid", "pue", "bind")
FIGURES = ("energy_j", "latency_s", "edp_js", "energy_per_output_j", "co2e_g", "flops", "macs",
           "parameters", "off_chip_bytes", "kernels", "bandwidth_use", "power_use", "fits")
"""The columns of a point besides its coordinates, status, warnings and key."""


@dataclass(frozen=True)
class Point:
    """One coordinate of the sweep; ``key`` is its content hash (module doc)."""

    model: str
    bindings: tuple[tuple[str, int], ...]
    target: str
    execution: str
    rewrite: str
    key: str = ""


@dataclass(frozen=True)
class Spec:
    """A parsed sweep spec: model strings (``MODEL@shapes``) resolved against the spec's folder."""

    models: tuple[str, ...]
    targets: tuple[str, ...]
    bindings: tuple[tuple[tuple[str, int], ...], ...]
    executions: tuple[str, ...] = ("eager",)
    rewrites: tuple[str, ...] = (NO_REWRITE,)
    math: str = "default"
    grid: str | None = None
    pue: float = 1.0
    folder: Path = field(default=Path("."))


def _strings(doc: Mapping[str, Any], key: str, where: str, default: Sequence[str] = ()
             ) -> tuple[str, ...]:
    value = doc.get(key, list(default))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise NexusError(f"{where}: '{key}' must be a list of strings, e.g. {key} = "
                         f"[\"{default[0] if default else 'h100'}\"]")
    return tuple(value)


def read_spec(path: str | Path) -> Spec:
    """A sweep spec from its TOML file; every mistake is one line naming the key."""
    from lowering.target import EXECUTION_MODES

    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as err:
        raise NexusError(f"cannot read sweep spec {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise NexusError(f"{path.name}: not valid TOML: {err}") from None
    where = path.name
    unknown = sorted(set(doc) - set(SPEC_KEYS))
    if unknown:
        raise NexusError(f"{where}: unknown key '{unknown[0]}' (allowed: {', '.join(SPEC_KEYS)})")
    if "models" not in doc or "targets" not in doc:
        raise NexusError(f"{where}: give models = [...] and targets = [...]")
    executions = _strings(doc, "execution", where, ("eager",))
    bad = [e for e in executions if e not in EXECUTION_MODES]
    if bad:
        raise NexusError(f"{where}: execution '{bad[0]}': one of {', '.join(EXECUTION_MODES)}")
    bind = doc.get("bind", {})
    if not isinstance(bind, dict):
        raise NexusError(f"{where}: [bind] is a table of sizes, e.g. batch = [1, 8]")
    sizes = {}
    for name, given in bind.items():
        values = given if isinstance(given, list) else [given]
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                 for v in values):
            raise NexusError(f"{where}: bind.{name}: sizes of 1 or more, e.g. {name} = [1, 8]")
        sizes[name] = values
    bindings = tuple(tuple(zip(sizes, combo)) for combo in itertools.product(*sizes.values()))
    pue = doc.get("pue", 1.0)
    if isinstance(pue, bool) or not isinstance(pue, (int, float)):
        raise NexusError(f"{where}: pue must be a number (1.0 or more)")
    return Spec(tuple(_absolute(m, path.parent) for m in _strings(doc, "models", where)),
                _strings(doc, "targets", where), bindings, executions,
                _strings(doc, "rewrites", where, (NO_REWRITE,)),
                str(doc.get("math", "default")), doc.get("grid"), float(pue), path.parent)


def _absolute(model: str, folder: Path) -> str:
    """A model string with its file made absolute against the spec's folder, so that workers
    on other processes or machines (sharing the file system) find it."""
    if model.startswith("example:"):
        return model
    head, at, shapes = model.partition("@")
    file, colon, factory = head.partition(":")
    if colon and len(file) == 1:                       # a Windows drive letter, not a factory
        file, colon, factory = head, "", ""
    resolved = (folder / file).resolve() if not Path(file).is_absolute() else Path(file)
    return f"{resolved}{colon}{factory}{at}{shapes}"


def _model_file(model: str) -> Path | None:
    from .cli import model_and_shapes

    name = model_and_shapes(model)[0]
    if name.startswith("example:"):
        return None
    return Path(name.split(":")[0])


def _digest_files(paths: Sequence[Path], into: Any) -> None:
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            into.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
            into.update(f.read_bytes() if f.exists() else b"missing")


def _target_files(name: str) -> list[Path]:
    from lowering.target import load_target

    target, files = load_target(name), []
    while target is not None:
        files.append(target.path)
        target = target.base
    return files


@functools.cache
def code_digest() -> str:
    """A hash of NEXUS's own source (every module of its packages): a point costed by other
    code is computed again, between releases as within one."""
    from importlib.util import find_spec

    h = hashlib.sha256(__version__.encode())
    for package in ("nexus_ir", "passes", "lowering", "frontends", "runtime"):
        folder = Path(find_spec(package).submodule_search_locations[0])
        for source in sorted(folder.rglob("*.py")):
            h.update(str(source.relative_to(folder)).encode())
            h.update(source.read_bytes())
    return h.hexdigest()


def points(spec: Spec) -> list[Point]:
    """Every point of the sweep, keyed (module doc), in the spec's order."""
    model_digest, target_digest = {}, {}
    for model in spec.models:
        h = hashlib.sha256(model.encode())
        file = _model_file(model)
        if file is not None:
            if not file.exists():
                raise NexusError(f"sweep: model file {file} does not exist")
            _digest_files([file], h)
        model_digest[model] = h.hexdigest()
    for target in spec.targets:
        h = hashlib.sha256(target.encode())
        _digest_files(_target_files(target), h)
        target_digest[target] = h.hexdigest()
    found = []
    for model, binding, target, execution, rewrite in itertools.product(
            spec.models, spec.bindings, spec.targets, spec.executions, spec.rewrites):
        key = hashlib.sha256(json.dumps(
            [code_digest(), model_digest[model], binding, target_digest[target], execution,
             rewrite, spec.math, spec.grid, spec.pue]).encode()).hexdigest()[:32]
        found.append(Point(model, binding, target, execution, rewrite, key))
    return found


@dataclass(frozen=True)
class ModelTask:
    """The uncached points of one model, shipped to a worker as one unit."""

    model: str
    points: tuple[Point, ...]
    math: str
    grid: str | None
    pue: float


def cost_model(task: ModelTask) -> list[dict[str, Any]]:
    """Cost every point of one model: load and lower it once per binding, re-cost per target,
    execution and rewrite (its weights' bits are read at the first point only: read-only
    arrays are read once, ``passes.switching.constants_stats``). Runs on the workers."""
    from .api import prepare
    from .cli import model_and_shapes

    name, shapes = model_and_shapes(task.model)
    model, inputs = _loaded(name)
    rows = []
    for binding, group in itertools.groupby(task.points, key=lambda p: p.bindings):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ready = prepare(model, shapes or inputs, bindings=dict(binding))
        notes = "; ".join(dict.fromkeys(str(w.message) for w in caught))
        with collector.frozen():     # collections while re-costing skip the model and weights
            rows.extend(_cost_points(ready, list(group), notes, task))
    return rows


def _cost_points(ready: Any, group: list[Point], notes: str, task: ModelTask
                 ) -> list[dict[str, Any]]:
    """The rows of one prepared model's points; each rewrite is found and applied once per
    target, whatever the execution modes."""
    from passes.cost import cost_graph

    rows = []
    offered: dict[str, dict[str, Any]] = {}            # rewrite candidates, once per target
    rewritten: dict[tuple[str, str], tuple[Any, str]] = {}   # a rewrite applied once per target
    for point in group:
        if (point.target, point.rewrite) not in rewritten:
            rewritten[point.target, point.rewrite] = _rewritten(ready.graph, point, offered)
        graph, status = rewritten[point.target, point.rewrite]
        row = {"model": point.model, **dict(point.bindings), "target": point.target,
               "execution": point.execution, "rewrite": point.rewrite, "status": status,
               "warnings": notes, "key": point.key, **dict.fromkeys(FIGURES)}
        try:
            if graph is not None:
                row.update(_figures(cost_graph(
                    graph, point.target, bindings=ready.bindings,
                    value_stats=ready.value_stats,
                    execution=point.execution, math=task.math), task))
        except NexusError as err:        # this point only: the others still stand
            row["status"] = f"not costed: {err}"
        rows.append(row)
    return rows


def _loaded(name: str) -> tuple[Any, Any]:
    """A model and its example inputs, ready for ``prepare`` at any binding: a graph with its
    symbols open, or a PyTorch module (exported again per batch it is bound to)."""
    from frontends import FACTORY_SPEC, load_factory
    from frontends.pytorch import is_torch_model

    from .api import load_graph

    if FACTORY_SPEC.match(name):
        model, inputs = load_factory(name)
        return (model, inputs) if is_torch_model(model) else (load_graph(model, inputs), None)
    return load_graph(name), None


def _rewritten(graph: Any, point: Point, offered: dict[str, dict[str, Any]]
               ) -> tuple[Any, str]:
    """The graph with the point's rewrite applied, and its status; ``offered`` keeps each
    target's rewrite candidates (they depend on the graph and the target only)."""
    if point.rewrite == NO_REWRITE:
        return graph, "ok"
    from lowering.target import load_target
    from passes.rewrites.registry import RewriteContext, candidates

    if point.target not in offered:
        offered[point.target] = candidates(graph, RewriteContext(
            target=load_target(point.target)))
    if point.rewrite not in offered[point.target]:
        return None, "rewrite does not apply"
    return offered[point.target][point.rewrite].apply(graph)[0], "ok"


def _figures(report: Any, task: ModelTask) -> dict[str, Any]:
    m = report.metrics
    figures = {k: m.get(k) for k in FIGURES}
    figures["energy_per_output_j"] = m["energy_j"] / m["output_units"]
    if task.grid is not None:
        from .carbon import carbon_metrics
        figures["co2e_g"] = carbon_metrics(m["energy_j"], task.grid, task.pue)["co2e_g"]
    return figures


# ---------------------------------------------------------------------- cache and engines
class Cache:
    """Points' rows by key, one JSON file each under ``folder`` (a re-run reads them back)."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.folder and self.folder / f"{key}.json"
        if path is None or not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None                      # a torn or foreign file: computed again

    def put(self, row: dict[str, Any]) -> None:
        if self.folder is not None:
            from .common import write_output
            write_output(self.folder / f"{row['key']}.json", json.dumps(row, sort_keys=True))


Engine = Callable[[Callable[[ModelTask], list[dict]], Sequence[ModelTask]], list[list[dict]]]


def local_engine(jobs: int) -> Engine:
    """The default: joblib's loky process pool (``jobs`` 1: in this process, no pool)."""
    def run(fn: Callable, tasks: Sequence[ModelTask]) -> list[list[dict]]:
        if jobs == 1 or len(tasks) <= 1:
            return [fn(t) for t in tasks]
        from joblib import Parallel, delayed
        return Parallel(n_jobs=jobs, backend="loky")(delayed(fn)(t) for t in tasks)
    return run


def dask_engine(address: str) -> Engine:
    """Tasks on the Dask scheduler at ``address``, through ``distributed.Client.map``."""
    def run(fn: Callable, tasks: Sequence[ModelTask]) -> list[list[dict]]:
        try:
            from distributed import Client
        except ImportError:
            raise NexusError("--dask needs dask.distributed: pip install 'nexus-ml[sweep]'"
                             ) from None
        try:
            client = Client(address, timeout="10s")
        except OSError as err:
            raise NexusError(f"--dask {address}: no scheduler answers ({err})") from None
        with client:
            return client.gather(client.map(fn, tasks, pure=False))
    return run


def ray_engine(address: str) -> Engine:
    """Tasks on the Ray cluster at ``address`` (``auto``: the one this machine belongs to;
    ``local``: a Ray started here), through ``ray.remote`` and ``ray.get``."""
    def run(fn: Callable, tasks: Sequence[ModelTask]) -> list[list[dict]]:
        try:
            import ray
        except ImportError:
            raise NexusError("--ray needs ray: pip install 'nexus-ml[ray]'") from None
        started = not ray.is_initialized()
        if started:
            ray.init(address=None if address == "local" else address,
                     include_dashboard=False, log_to_driver=False)
        try:
            remote = ray.remote(fn)
            return ray.get([remote.remote(t) for t in tasks])
        finally:
            if started:
                ray.shutdown()
    return run


@dataclass
class SweepResult:
    """The rows of every point in the spec's order, and how many were computed or cached."""

    rows: list[dict[str, Any]]
    computed: int
    cached: int


def sweep(spec: Spec, engine: Engine | None = None, cache_folder: Path | None = None
          ) -> SweepResult:
    """Run ``spec``: cached points are read back, the rest costed on ``engine`` one task per
    model (default: the local pool, one job per core), and every new row cached."""
    import os

    engine = engine or local_engine(os.cpu_count() or 1)
    cache = Cache(cache_folder)
    every = points(spec)
    rows = {p.key: cache.get(p.key) for p in every}
    todo = [p for p in every if rows[p.key] is None]
    tasks = [ModelTask(model, tuple(p for p in todo if p.model == model), spec.math,
                       spec.grid, spec.pue)
             for model in dict.fromkeys(p.model for p in todo)]
    for result in engine(cost_model, tasks):
        for row in result:
            cache.put(row)
            rows[row["key"]] = row
    return SweepResult([rows[p.key] for p in every], len(todo), len(every) - len(todo))


# ---------------------------------------------------------------------- the table
def columns(spec: Spec) -> list[str]:
    """The table's columns: coordinates (one per bound symbol), status, figures, warnings,
    key."""
    bound = list(dict.fromkeys(name for binding in spec.bindings for name, _ in binding))
    return ["model", *bound, "target", "execution", "rewrite", "status", *FIGURES, "warnings",
            "key"]


def write_table(result: SweepResult, spec: Spec, path: str | Path) -> None:
    """The rows as CSV (numbers at full precision, empty where undefined) or Parquet (by the
    extension; Parquet needs pyarrow), written atomically."""
    import csv
    import io

    from .common import write_output

    names = columns(spec)
    if str(path).endswith(".parquet"):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise NexusError("writing Parquet needs pyarrow: pip install 'nexus-ml[sweep]'"
                             ) from None
        buffer = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in names} for r in result.rows]),
                       buffer)
        write_output(path, buffer.getvalue().to_pybytes())
        return
    text = io.StringIO()
    writer = csv.DictWriter(text, names, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.rows)
    write_output(path, text.getvalue())
