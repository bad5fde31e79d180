"""Hardware targets: data files (TOML) in which every number carries its source.

A target gives, per primitive and dtype, the energy of one operation (pJ); memory levels with
capacity, energy per byte and bandwidth; peak rates per execution class (``matrix`` for fma in
matmul/conv/attention, ``vector`` for other arithmetic, ``special`` for transcendentals); static
power; optionally the board power limit (``max_power_w``) and the share of compute energy that
does not depend on the data (``activity_floor``, see ``passes.switching``) and calibrated
multipliers of compute energy per execution class (``energy_scale``, written by ``nexus
calibrate``); whether its runtime fuses a weight's dequantize into the matrix op reading it
(``fused_dequantize`` = 1, as deployment runtimes' weight-only kernels do; eager execution does
not); the share of a sparse weight's skipped multiplies the hardware realizes
(``sparse_efficiency``; dense hardware: absent, 0); and a per-kernel overhead. Every number is
written ``{ value = ..., source = "..." }``.

How a model is run (execution modes, ``passes.cost``) adds optional numbers, each in its key's
unit: ``busy_floor_w`` (board power while a context is up and the clocks are high, paid over the
whole inference in place of ``static_power_w``); ``active_power_w`` (power above that floor while
kernels keep the multiprocessors busy, paid over each kernel's device time whatever it computes);
``host_dispatch_s`` (a table: host time eager PyTorch spends per op, by op kind, with ``default``),
``host_kernel_s`` (per kernel beyond an op's first), ``host_module_s`` (per call of a module that holds
other modules: the Python a block runs between its ops), ``kernel_gap_s`` (device time between
back-to-back kernels), ``sync_s`` (per inference: launch and synchronize), ``min_kernel_s`` (device
time of the shortest matrix kernel), ``min_vector_kernel_s`` (of the shortest other kernel);
``matrix_efficiency`` (achieved fraction of the matrix peak on large GEMMs), ``conv_efficiency``
(the same for dense k×k convolutions), ``depthwise_fma_per_s`` (the rate of depthwise
convolutions) and ``depthwise_output_s`` (their time per output element beside it),
``element_rate_per_s`` (a table by op: input elements per second of ops whose
kernels run below the memory roofline, such as pooling, batch norm, softmax and materialized
transposes) and ``norm_rows_per_s`` (rows per second of layer norm), ``gemm_tile``,
``gemm_tile_lanes`` and ``sms`` (output-tile side on the matrix units and on the vector lanes, and
multiprocessors, for the wave quantization of small GEMMs); ``tf32_conv``/``tf32_matmul`` (1 where
PyTorch's default math runs fp32 cuDNN convolutions and RNNs/matmuls as TF32);
``cache_retains_weights`` (1: the on-chip level is a cache that keeps weights between back-to-back
inferences) with ``weights_resident_below_bytes`` and ``weights_evicted_above_bytes`` (the
footprint, weights plus activations, up to which all weights stay and from which none do; the share
kept falls linearly between; the caller's inputs and outputs stay with them) and
``matrix_writeback`` (a table by dtype: the share of a matrix op's on-chip output that the weight
stream pushes out to off-chip memory, for the share of weights not kept); ``activations_on_chip`` (1 where activations must live on chip, a
microcontroller's SRAM, while the off-chip level holds only the weights); ``tree_compares_per_s``
(split compares per second of a tree ensemble's traversal, which dependent, branchy loads hold far
below the vector rate); ``attention`` (a table per dtype of a fused attention kernel's tiles and
times, ``ATTENTION_KEYS``, ``passes.cost.attention_time``); and ``expected_error`` (a table by execution mode: the median
absolute error of the target's predictions, from its validation).

Energy of ``(primitive, dtype)`` is resolved in this order:

1. the file lists it (``[compute.add] i8 = {...}``);
2. the primitive is a composite (div, exp, …): the sum over its expansion;
3. fma: multiply at the dtype plus add at the accumulator dtype;
4. the file lists the primitive's reference family (``mul`` for mul, ``add`` for every other
   circuit) at some dtype: scale the listed dtype nearest in bit width (same kind first) by the
   gate-model transistor ratio, so listed points are exact and the β law fills the rest;
5. the file names a ``base`` target and a ``scale``: the base's energy times the scale;
6. ``energy_per_transistor_fj`` times the gate-model transistors.

A target states its ``confidence`` (``CONFIDENCES``): measured on the device, partly measured,
a datasheet-derived estimate, or a published reference table. Loading checks what physics asks:
every number finite, bandwidths, capacities and rates positive, shares at most 1, the power limit
above the static and busy-floor power; a ``base`` given as a file is found beside the file that
names it, and a chain of bases that returns to a file is refused.

Users add a target by dropping ``NAME.toml`` into a directory listed in the ``NEXUS_TARGETS``
environment variable (``os.pathsep``-separated; searched before the bundled targets), or by
passing the file's path.
"""

from __future__ import annotations

import functools
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_ir import DType, NexusError, dtype
from nexus_ir.errors import install_hint

from .primitives import COMPOSITES, PRIMITIVES, accumulator, expand, transistors

TARGET_DIR = Path(__file__).parent / "targets"
EXEC_CLASSES = ("matrix", "vector", "special")


EXECUTION_KEYS = ("busy_floor_w", "active_power_w", "host_kernel_s", "kernel_gap_s", "sync_s",
                  "min_kernel_s", "min_vector_kernel_s", "matrix_efficiency", "conv_efficiency",
                  "depthwise_fma_per_s", "norm_rows_per_s", "gemm_tile", "gemm_tile_lanes", "sms",
                  "tf32_conv", "tf32_matmul", "cache_retains_weights",
                  "weights_resident_below_bytes", "weights_evicted_above_bytes",
                  "activations_on_chip", "tree_compares_per_s", "cmsis_nn", "code_bytes",
                  "clock_hz", "per_output_s", "gemv_efficiency", "kernel_per_op", "host_module_s",
                  "depthwise_output_s")
"""Optional numbers of how models run on the target (module doc)."""
EXECUTION_MODES = ("eager", "cuda-graph", "fused")
CONFIDENCES = ("measured", "partly measured", "estimate", "reference", "unstated")
"""How far a target's numbers are to be trusted: measured on the device (and validated),
partly measured, datasheet-derived estimates not yet measured, a published reference table."""
TABLES = ("host_dispatch_s", "element_rate_per_s", "matrix_writeback", "expected_error")
"""Tables of execution numbers keyed by op kind, op, dtype or execution mode (module doc)."""
ATTENTION_KEYS = ("tile_rows", "tile_keys", "blocks_per_sm", "block_s", "step_s",
                  "step_per_dim_s", "mask_step_s", "unaligned_mask_step_s")
"""A fused attention kernel at one dtype: query rows and keys per tile, blocks resident per
multiprocessor, seconds per block and per key step (plus per unit of the two products' head
widths, per step under a mask, and more where the mask's rows are not 16-byte aligned)."""


class TargetError(NexusError):
    """A target file that does not follow the format; the message names the file and key."""


@dataclass(frozen=True)
class Quantity:
    """A number with its provenance."""

    value: float
    source: str


@dataclass(frozen=True)
class MemoryLevel:
    name: str
    on_chip: bool
    capacity_bytes: Quantity
    pj_per_byte: Quantity
    bandwidth_bytes_per_s: Quantity


@dataclass(frozen=True, eq=False)
class Target:
    """A loaded hardware target. ``energy_pj`` and ``peak_rate`` answer the cost passes."""

    name: str
    description: str
    process_nm: float
    path: Path
    compute: dict[tuple[str, str], Quantity]
    memory: tuple[MemoryLevel, ...]
    peak: dict[tuple[str, str], Quantity]
    static_power_w: Quantity
    kernel_overhead_s: Quantity
    energy_per_transistor_fj: Quantity | None = None
    max_power_w: Quantity | None = None
    activity_floor: Quantity | None = None
    energy_scale: dict[str, Quantity] = field(default_factory=dict)
    fused_dequantize: Quantity | None = None
    sparse_efficiency: Quantity | None = None
    execution: dict[str, Quantity] = field(default_factory=dict)
    host_dispatch_s: dict[str, Quantity] = field(default_factory=dict)
    element_rate_per_s: dict[str, Quantity] = field(default_factory=dict)
    matrix_writeback: dict[str, Quantity] = field(default_factory=dict)
    expected_error: dict[str, Quantity] = field(default_factory=dict)
    attention: dict[str, dict[str, Quantity]] = field(default_factory=dict)
    base: "Target | None" = None
    scale: Quantity | None = None
    confidence: str = "unstated"
    notes: tuple[str, ...] = field(default=())

    # ------------------------------------------------------------------ energy
    def energy_pj(self, primitive: str, dt: DType | str) -> float:
        """Energy of one ``primitive`` at ``dt`` in pJ (resolution order in the module doc)."""
        return self._energy(primitive, dtype(dt).name)

    @functools.lru_cache(maxsize=4096)  # noqa: B019  (targets live as long as the process)
    def _energy(self, primitive: str, dt_name: str) -> float:
        if primitive not in PRIMITIVES:
            raise TargetError(f"unknown primitive '{primitive}'")
        dt = dtype(dt_name)
        listed = self.compute.get((primitive, dt_name))
        if listed is not None:
            return listed.value
        if primitive in COMPOSITES:
            return sum(k * self._energy(p, dt_name) for p, k in expand(primitive).items())
        if primitive == "fma":
            return self._energy("mul", dt_name) + self._energy("add", accumulator(dt).name)
        family = "mul" if primitive == "mul" else "add"
        reference = self._nearest_listed(family, dt)
        if reference is not None:
            ref_dt, quantity = reference
            return quantity.value * transistors(primitive, dt) / transistors(family, ref_dt)
        if self.base is not None and self.scale is not None:
            return self.base._energy(primitive, dt_name) * self.scale.value
        if self.energy_per_transistor_fj is not None:
            return self.energy_per_transistor_fj.value * 1e-3 * transistors(primitive, dt)
        raise TargetError(f"target {self.name}: no energy for {primitive} at {dt_name}; list it "
                          "under [compute], or give energy_per_transistor_fj or a base target")

    def _nearest_listed(self, family: str, dt: DType) -> tuple[DType, Quantity] | None:
        listed = [(dtype(d), q) for (p, d), q in self.compute.items() if p == family]
        if not listed:
            return None
        same_kind = [x for x in listed if x[0].is_float == dt.is_float] or listed
        return min(same_kind, key=lambda x: (abs(x[0].bits - dt.bits), -x[0].bits))

    def number(self, key: str, default: float = 0.0) -> float:
        """An optional execution number (``EXECUTION_KEYS``), ``default`` where absent."""
        q = self.execution.get(key)
        return default if q is None else q.value

    def host_time_s(self, kind: str) -> float:
        """Host time eager PyTorch spends dispatching one op of ``kind`` (0 without a table)."""
        q = self.host_dispatch_s.get(kind, self.host_dispatch_s.get("default"))
        return 0.0 if q is None else q.value

    @functools.cached_property
    def execution_modes(self) -> tuple[str, ...]:
        """The modes this target's numbers tell apart: CUDA-graph replay only on a GPU, a file
        that gives its multiprocessors (``sms``) and the gap between replayed kernels."""
        return tuple(m for m in EXECUTION_MODES if m != "cuda-graph" or
                     {"sms", "kernel_gap_s"} <= set(self.execution))

    @property
    def floor_power_w(self) -> float:
        """Power paid over the whole inference: the busy floor where known, else static."""
        return self.number("busy_floor_w", self.static_power_w.value)

    # ------------------------------------------------------------------ rates and memory
    def peak_rate(self, exec_class: str, dt: DType | str) -> float:
        """Operations per second of ``exec_class`` at ``dt``. Fallbacks: a matrix op the file
        does not list runs at the vector rate of its dtype; then the class default; then the
        vector default."""
        return self._peak_rate(exec_class, dtype(dt).name)

    @functools.lru_cache(maxsize=1024)  # noqa: B019  (targets live as long as the process)
    def _peak_rate(self, exec_class: str, name: str) -> float:
        chain = [(exec_class, name)]
        if exec_class == "matrix":
            chain.append(("vector", name))
        chain += [(exec_class, "default"), ("vector", "default")]
        for key in chain:
            if key in self.peak:
                return self.peak[key].value
        raise TargetError(f"target {self.name}: no peak rate for {exec_class} at {name}")

    @functools.cached_property
    def on_chip(self) -> MemoryLevel:
        """The largest on-chip level: where tensors stay when the working set fits."""
        return max((m for m in self.memory if m.on_chip), key=lambda m: m.capacity_bytes.value)

    @functools.cached_property
    def off_chip(self) -> MemoryLevel:
        return next(m for m in self.memory if not m.on_chip)

    def provenance(self) -> list[tuple[str, float, str]]:
        """Every number of the file as ``(key, value, source)``."""
        rows = [("static_power_w", self.static_power_w.value, self.static_power_w.source),
                *([("max_power_w", self.max_power_w.value, self.max_power_w.source)]
                  if self.max_power_w else []),
                ("kernel_overhead_s", self.kernel_overhead_s.value, self.kernel_overhead_s.source)]
        if self.activity_floor:
            rows.append(("activity_floor", self.activity_floor.value, self.activity_floor.source))
        rows += [(f"energy_scale.{c}", q.value, q.source) for c, q in self.energy_scale.items()]
        rows += [(k, q.value, q.source) for k, q in self.execution.items()]
        rows += [(f"{table}.{k}", q.value, q.source) for table in TABLES
                 for k, q in getattr(self, table).items()]
        rows += [(f"attention.{dt}.{k}", q.value, q.source)
                 for dt, keys in self.attention.items() for k, q in keys.items()]
        rows += [(key, q.value, q.source) for key, q in
                 (("fused_dequantize", self.fused_dequantize),
                  ("sparse_efficiency", self.sparse_efficiency)) if q]
        if self.energy_per_transistor_fj:
            rows.append(("energy_per_transistor_fj", self.energy_per_transistor_fj.value,
                         self.energy_per_transistor_fj.source))
        if self.scale:
            rows.append((f"scale (of {self.base.name})", self.scale.value, self.scale.source))
        rows += [(f"compute.{p}.{d}", q.value, q.source) for (p, d), q in self.compute.items()]
        for m in self.memory:
            for attr in ("capacity_bytes", "pj_per_byte", "bandwidth_bytes_per_s"):
                q = getattr(m, attr)
                rows.append((f"memory.{m.name}.{attr}", q.value, q.source))
        rows += [(f"peak.{c}.{d}", q.value, q.source) for (c, d), q in self.peak.items()]
        return rows

    def __repr__(self) -> str:
        return f"<Target {self.name}: {self.description}>"


# ---------------------------------------------------------------------- loading
def _quantity(obj: Any, where: str, positive: bool = False) -> Quantity:
    """A ``{ value, source }`` pair: a finite number, non-negative (``positive``: above 0,
    where a zero would divide: bandwidths, capacities, rates), with a non-empty source."""
    if not isinstance(obj, dict) or set(obj) != {"value", "source"}:
        raise TargetError(f"{where}: write every number as {{ value = ..., source = \"...\" }}")
    value, source = obj["value"], obj["source"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value) or value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise TargetError(f"{where}.value: must be a finite {kind} number, got {value!r}")
    if not isinstance(source, str) or not source.strip():
        raise TargetError(f"{where}.source: must say where the number comes from")
    return Quantity(float(value), source)


def _require(doc: dict[str, Any], key: str, where: str) -> Any:
    if key not in doc:
        raise TargetError(f"{where}: missing key '{key}'")
    return doc[key]


def _parse(doc: dict[str, Any], path: Path) -> Target:
    where = path.name
    known = {"name", "description", "process_nm", "base", "scale", "energy_per_transistor_fj",
             "static_power_w", "max_power_w", "activity_floor", "energy_scale", "fused_dequantize",
             "sparse_efficiency", "kernel_overhead_s", "compute", "memory", "peak",
             "notes", "confidence", "attention", *TABLES, *EXECUTION_KEYS}
    for key in doc:
        if key not in known:
            raise TargetError(f"{where}: unknown key '{key}' (allowed: {', '.join(sorted(known))})")
    compute: dict[tuple[str, str], Quantity] = {}
    for prim, by_dtype in doc.get("compute", {}).items():
        if prim not in PRIMITIVES:
            raise TargetError(f"{where}: compute.{prim}: unknown primitive (known: "
                              f"{', '.join(PRIMITIVES)})")
        for dt_name, q in by_dtype.items():
            dt = _dtype_key(dt_name, f"{where}: compute.{prim}")
            compute[(prim, dt)] = _quantity(q, f"{where}: compute.{prim}.{dt_name}")
    memory = []
    for i, level in enumerate(_require(doc, "memory", where)):
        at = f"{where}: memory[{i}]"
        name = _require(level, "name", at)
        at = f"{where}: memory.{name}"
        memory.append(MemoryLevel(
            name, bool(_require(level, "on_chip", at)),
            *(_quantity(_require(level, k, at), f"{at}.{k}", positive=k != "pj_per_byte")
              for k in ("capacity_bytes", "pj_per_byte", "bandwidth_bytes_per_s"))))
    if not any(m.on_chip for m in memory) or sum(not m.on_chip for m in memory) != 1:
        raise TargetError(f"{where}: memory: list at least one on-chip level and exactly one "
                          "off-chip level")
    peak: dict[tuple[str, str], Quantity] = {}
    for cls, by_dtype in _require(doc, "peak", where).items():
        if cls not in EXEC_CLASSES:
            raise TargetError(f"{where}: peak.{cls}: unknown class (known: "
                              f"{', '.join(EXEC_CLASSES)})")
        for dt_name, q in by_dtype.items():
            if dt_name != "default":
                dt_name = _dtype_key(dt_name, f"{where}: peak.{cls}")
            peak[(cls, dt_name)] = _quantity(q, f"{where}: peak.{cls}.{dt_name}",
                                             positive=True)
    energy_scale: dict[str, Quantity] = {}
    for cls, q in doc.get("energy_scale", {}).items():
        if cls not in EXEC_CLASSES:
            raise TargetError(f"{where}: energy_scale.{cls}: unknown class (known: "
                              f"{', '.join(EXEC_CLASSES)})")
        energy_scale[cls] = _quantity(q, f"{where}: energy_scale.{cls}")
    tables = {}
    for table in TABLES:
        tables[table] = {k: _quantity(q, f"{where}: {table}.{k}")
                         for k, q in doc.get(table, {}).items()}
    unknown_modes = set(tables["expected_error"]) - set(EXECUTION_MODES)
    if unknown_modes:
        raise TargetError(f"{where}: expected_error.{sorted(unknown_modes)[0]}: unknown execution "
                          f"mode (known: {', '.join(EXECUTION_MODES)})")
    execution = {k: _quantity(doc[k], f"{where}: {k}") for k in EXECUTION_KEYS if k in doc}
    attention = {_dtype_key(dt_name, f"{where}: attention"): _attention_table(keys,
                 f"{where}: attention.{dt_name}") for dt_name, keys in doc.get("attention",
                                                                               {}).items()}
    if ("vector", "default") not in peak:
        raise TargetError(f"{where}: peak.vector.default: missing (the rate of any op the file "
                          "does not list)")
    base = None
    if "base" in doc:
        base = load_target(_base_path(_require(doc, "base", where), path))
        if "scale" not in doc:
            raise TargetError(f"{where}: missing key 'scale' (required with 'base')")
    confidence = doc.get("confidence", "unstated")
    if confidence not in CONFIDENCES:
        raise TargetError(f"{where}: confidence: one of {', '.join(CONFIDENCES)}, got "
                          f"{confidence!r}")

    def optional(key: str) -> Quantity | None:
        return _quantity(doc[key], f"{where}: {key}") if key in doc else None
    target = Target(
        name=_require(doc, "name", where), description=_require(doc, "description", where),
        process_nm=_quantity({"value": _require(doc, "process_nm", where), "source": where},
                             f"{where}: process_nm", positive=True).value,
        path=path, compute=compute, memory=tuple(memory), peak=peak,
        static_power_w=_quantity(_require(doc, "static_power_w", where),
                                 f"{where}: static_power_w"),
        kernel_overhead_s=_quantity(_require(doc, "kernel_overhead_s", where),
                                    f"{where}: kernel_overhead_s"),
        energy_per_transistor_fj=optional("energy_per_transistor_fj"),
        max_power_w=optional("max_power_w"), activity_floor=optional("activity_floor"),
        energy_scale=energy_scale, fused_dequantize=optional("fused_dequantize"),
        sparse_efficiency=optional("sparse_efficiency"), execution=execution, **tables,
        attention=attention,
        base=base, scale=optional("scale"), confidence=confidence,
        notes=tuple(doc.get("notes", ())))
    _check_consistent(target, where)
    return target


def _dtype_key(name: str, where: str) -> str:
    """The canonical name of a dtype a table is keyed by; unknown dtypes are refused."""
    try:
        return dtype(name).name
    except NexusError:
        raise TargetError(f"{where}.{name}: unknown dtype") from None


def _attention_table(keys: dict[str, Any], where: str) -> dict[str, Quantity]:
    """One dtype's fused attention numbers: every key of ``ATTENTION_KEYS`` given, tiles and
    residency positive."""
    unknown = set(keys) - set(ATTENTION_KEYS)
    if unknown:
        raise TargetError(f"{where}: unknown key '{sorted(unknown)[0]}' (allowed: "
                          f"{', '.join(ATTENTION_KEYS)})")
    missing = [k for k in ATTENTION_KEYS if k not in keys]
    if missing:
        raise TargetError(f"{where}: missing key '{missing[0]}' (give all of: "
                          f"{', '.join(ATTENTION_KEYS)})")
    return {k: _quantity(keys[k], f"{where}.{k}",
                         positive=k in ("tile_rows", "tile_keys", "blocks_per_sm"))
            for k in ATTENTION_KEYS}


FRACTIONS = ("activity_floor", "sparse_efficiency", "matrix_efficiency", "conv_efficiency",
             "fused_dequantize", "tf32_conv", "tf32_matmul", "cache_retains_weights",
             "activations_on_chip")
"""Numbers that are shares or switches: at most 1."""


def _check_consistent(target: Target, where: str) -> None:
    """Physics a target must obey beyond each number's own range: shares at most 1, the power
    limit above the floors (else the power bound silently vanishes), a weight footprint kept
    no larger than the one evicted, and rates that would divide by zero given as positive."""
    for key in FRACTIONS:
        q = getattr(target, key, None) or target.execution.get(key)
        if q is not None and q.value > 1:
            raise TargetError(f"{where}: {key}: a share between 0 and 1, got {q.value:g}")
    for key in ("sms", "gemm_tile", "gemm_tile_lanes", "tree_compares_per_s",
                "depthwise_fma_per_s", "norm_rows_per_s"):
        if key in target.execution and target.execution[key].value == 0:
            raise TargetError(f"{where}: {key}: must be positive (leave it out where unknown)")
    if target.max_power_w is not None:
        floor = max(target.static_power_w.value, target.floor_power_w)
        if target.max_power_w.value <= floor:
            raise TargetError(f"{where}: max_power_w ({target.max_power_w.value:g} W) must be "
                              f"above the static and busy-floor power ({floor:g} W)")
    kept = target.number("weights_resident_below_bytes")
    if kept > target.number("weights_evicted_above_bytes", kept):
        raise TargetError(f"{where}: weights_resident_below_bytes must not exceed "
                          "weights_evicted_above_bytes")


def _base_path(base: str, path: Path) -> str | Path:
    """A ``base`` that names a file is resolved against the folder of the file naming it, not
    the working directory; a bare name is looked up like any target name."""
    given = Path(base)
    return path.parent / given if given.suffix == ".toml" and not given.is_absolute() else base


_LOADING: list[Path] = []
"""Target files being parsed, outermost first: a ``base`` chain that returns to one of them
is a cycle."""


def read_target_document(path: Path) -> dict[str, Any]:
    """A target file's TOML document, as written (calibration edits it and writes it back)."""
    try:
        return tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as err:
        raise TargetError(f"{Path(path).name}: not valid TOML: {err}") from None


def write_target(doc: Mapping[str, Any], path: str | Path) -> None:
    """Write a target document as TOML (the one writer of the format; needs tomli-w)."""
    try:
        import tomli_w
    except ImportError:
        raise NexusError("writing a target file needs tomli-w: "
                         f"{install_hint('measure')}") from None
    _parse(dict(doc), Path(path))
    Path(path).write_text(tomli_w.dumps(dict(doc)))


@functools.lru_cache(maxsize=64)
def _load_path(path: Path, mtime_ns: int) -> Target:
    """Parse a target file; cached per path and modification time, so an edited file reloads."""
    if path in _LOADING:
        chain = " -> ".join(p.name for p in [*_LOADING[_LOADING.index(path):], path])
        raise TargetError(f"{path.name}: base targets form a cycle ({chain}); a base must not "
                          "lead back to the file")
    _LOADING.append(path)
    try:
        return _parse(read_target_document(path), path)
    finally:
        _LOADING.pop()


def load_target(name_or_path: str | Path) -> Target:
    """A bundled target by name (``h100``) or a target file by path."""
    if isinstance(name_or_path, Target):
        return name_or_path
    path = Path(name_or_path)
    if path.suffix != ".toml":
        found = [d / f"{name_or_path}.toml" for d in target_dirs()
                 if (d / f"{name_or_path}.toml").exists()]
        if not found:
            raise TargetError(f"unknown target '{name_or_path}'; known targets: "
                              f"{', '.join(list_targets())}, or give a path to a .toml file")
        path = found[0]
    elif not path.exists():
        raise TargetError(f"target file {path} does not exist")
    return _load_path(path.resolve(), path.stat().st_mtime_ns)


def target_dirs() -> list[Path]:
    """Where targets are looked up by name: ``NEXUS_TARGETS`` directories, then the bundled."""
    user = [Path(p) for p in os.environ.get("NEXUS_TARGETS", "").split(os.pathsep) if p]
    return [*user, TARGET_DIR]


def list_targets() -> list[str]:
    """Names of the targets found in ``target_dirs()``."""
    return sorted({p.stem for d in target_dirs() for p in d.glob("*.toml")})
