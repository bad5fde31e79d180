import math
from pathlib import Path

import pytest

import nexus_ir as nx
from lowering.primitives import Counts, beta, expand, transistors
from lowering.target import TargetError, list_targets, load_target


def test_gate_model_transistor_counts():
    # PHYSICS.md §2: adder 28n; multiplier 34n²; float mul 34(m+1)² + 28e;
    # float add 12(m+1)⌈log2(m+1)⌉ + 28(m+1) + 28e
    assert transistors("add", nx.i8) == 28 * 8
    assert transistors("add", nx.i32) == 896
    assert transistors("mul", nx.i8) == 34 * 64 == 2176
    assert transistors("mul", nx.i32) == 34 * 1024
    assert transistors("mul", nx.f32) == 34 * 24 ** 2 + 28 * 8
    assert transistors("mul", nx.bf16) == 34 * 8 ** 2 + 28 * 8
    assert transistors("add", nx.f16) == 12 * 11 * 4 + 28 * 11 + 28 * 5
    assert transistors("fma", nx.i8) == 34 * 64 + 28 * 32           # accumulates in i32
    assert transistors("fma", nx.bf16) == transistors("mul", nx.bf16) + transistors("add", nx.f32)
    assert transistors("xnor", nx.i1) == 8 and transistors("popcount", nx.i1) == 28
    assert beta("add", nx.i32) == 0.5 * 896                          # α = 0.5 toggles
    # PHYSICS.md worked check: a 32-bit adder toggles 448 transistors
    assert beta("add", nx.i32) == 448
    with pytest.raises(ValueError, match="composite primitive"):
        transistors("exp", nx.f32)


def test_composites_expand_to_circuits():
    assert expand("div") == {"fma": 4, "mul": 1}
    # tanh = mul + exp + 2 add + div; exp = mul + round + 6 fma + add; div = 4 fma + mul
    assert expand("tanh") == {"mul": 1 + 1 + 1, "round": 1, "fma": 6 + 4, "add": 1 + 2}
    assert beta("div", nx.f32) == 4 * beta("fma", nx.f32) + beta("mul", nx.f32)


def test_counts_are_exact_beyond_int64():
    huge = Counts.of("bf16", fma=2**70) + Counts.of("bf16", fma=1)
    assert huge.macs == 2**70 + 1 and huge.flops == 2 * (2**70 + 1)
    assert huge.transistor_ops() == pytest.approx((2**70 + 1) * beta("fma", nx.bf16))
    assert (Counts.of("i8", add=3) * 4).to_dict() == {"add": {"i8": 12}}
    with pytest.raises(ValueError, match="unknown primitive 'frob'"):
        Counts.of("f32", frob=1)


ISSCC_2014 = [("add", "i8", 0.03), ("add", "i32", 0.1), ("mul", "i8", 0.2), ("mul", "i32", 3.1),
              ("add", "f16", 0.4), ("add", "f32", 0.9), ("mul", "f16", 1.1), ("mul", "f32", 3.7)]


@pytest.mark.parametrize("prim,dt,pj", ISSCC_2014)
def test_horowitz_target_reproduces_the_table(prim, dt, pj):
    assert load_target("horowitz-45nm").energy_pj(prim, dt) == pj


def test_horowitz_memory_levels_reproduce_the_table():
    t = load_target("horowitz-45nm")
    per_access = {m.name: m.pj_per_byte.value * 8 for m in t.memory}      # 64-bit accesses
    assert per_access["sram_8k"] == 10 and per_access["sram_32k"] == 20
    assert per_access["sram_1m"] == 100 and 1300 <= per_access["dram"] <= 2600
    assert t.on_chip.name == "sram_1m" and t.off_chip.name == "dram"


def test_unlisted_widths_follow_the_gate_model_from_the_nearest_listed_width():
    t = load_target("horowitz-45nm")
    # i4 add from the i8 point: 0.03 · (28·4)/(28·8)
    assert t.energy_pj("add", "i4") == pytest.approx(0.03 * 112 / 224)
    # bf16 mul from the f16 point (nearest float width)
    assert t.energy_pj("mul", "bf16") == pytest.approx(1.1 * transistors("mul", nx.bf16) /
                                                       transistors("mul", nx.f16))
    # fma = mul at the dtype + add at the accumulator: i8 → 0.2 + 0.1 (i32 add)
    assert t.energy_pj("fma", "i8") == pytest.approx(0.3)
    assert t.energy_pj("fma", "f32") == pytest.approx(3.7 + 0.9)
    # max = compare + mux, priced on the add family at its width
    assert t.energy_pj("max", "f32") == pytest.approx(0.9 * 34 * 32 / transistors("add", nx.f32))


def test_h100_is_anchored_on_the_measured_bf16_fma():
    t = load_target("h100")
    # PHYSICS.md: a bf16 8192³ matmul ran at ~720 TFLOP/s drawing ~690 W. Above the 119 W busy
    # floor and the active power over its time, less the memory energy the target charges
    # that product, the rest is its FMAs' energy.
    g = nx.Graph("mm8192")
    a = g.add_input("a", "bf16[8192,8192]")
    g.set_outputs(g.op("matmul", a, g.add_constant("b", type_="bf16[8192,8192]")))
    memory_j = nx.compile(g, target=t, execution="cuda-graph").metrics["memory_j"]
    fma, seconds = 8192 ** 3, 8192 ** 3 / 360e12
    above = (690.0 - 119.0 - t.number("active_power_w")) * seconds
    assert t.energy_pj("fma", "bf16") == pytest.approx((above - memory_j) / fma * 1e12, rel=1e-3)
    per_transistor = t.energy_per_transistor_fj.value * 1e-3
    assert per_transistor * transistors("fma", nx.bf16) == pytest.approx(
        t.energy_pj("fma", "bf16"), rel=1e-3)
    assert t.energy_pj("add", "f32") == pytest.approx(per_transistor * transistors("add", nx.f32))
    assert t.peak_rate("matrix", "bf16") == 494.7e12
    assert t.peak_rate("matrix", "f32") == 33.45e12          # no f32 tensor rate: vector rate
    assert t.peak_rate("special", "bf16") == 4.18e12
    assert t.static_power_w.value == 70.0 and t.max_power_w.value == 700.0
    assert t.floor_power_w == 119.0


def test_every_bundled_target_loads_and_prices_every_primitive():
    from lowering.primitives import PRIMITIVES
    assert set(list_targets()) >= {"horowitz-45nm", "h100", "a100", "x86-server", "cortex-m"}
    for name in list_targets():
        t = load_target(name)
        for prim in PRIMITIVES:
            for dt in ("f32", "bf16", "i8", "i1"):
                assert t.energy_pj(prim, dt) > 0
        assert all(source.strip() for _, _, source in t.provenance())


def test_derived_targets_scale_their_base():
    cpu, ref = load_target("x86-server"), load_target("horowitz-45nm")
    assert cpu.energy_pj("mul", "f32") == pytest.approx(3.7 * cpu.scale.value)
    assert math.isclose(cpu.scale.value, (10 / 45) * (0.8 / 0.9) ** 2, rel_tol=1e-3)
    assert ref.energy_pj("exp", "f32") * cpu.scale.value == pytest.approx(
        cpu.energy_pj("exp", "f32"))


GOOD = """
name = "mine"
description = "a test target"
process_nm = 7
static_power_w = { value = 1.0, source = "test" }
kernel_overhead_s = { value = 0.0, source = "test" }
energy_per_transistor_fj = { value = 0.1, source = "test" }
[[memory]]
name = "sram"
on_chip = true
capacity_bytes = { value = 1024, source = "test" }
pj_per_byte = { value = 1.0, source = "test" }
bandwidth_bytes_per_s = { value = 1e9, source = "test" }
[[memory]]
name = "dram"
on_chip = false
capacity_bytes = { value = 1e9, source = "test" }
pj_per_byte = { value = 100.0, source = "test" }
bandwidth_bytes_per_s = { value = 1e9, source = "test" }
[peak.vector]
default = { value = 1e9, source = "test" }
"""


def test_a_target_file_by_path(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    t = load_target(path)
    assert t.name == "mine" and t.energy_pj("add", "i8") == pytest.approx(0.1e-3 * 224)


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.replace('static_power_w = { value = 1.0, source = "test" }\n', ""),
     "mine.toml: missing key 'static_power_w'"),
    (lambda s: s.replace('pj_per_byte = { value = 1.0, source = "test" }', 'pj_per_byte = 1.0'),
     r"mine.toml: memory.sram.pj_per_byte: write every number as \{ value = ..., source"),
    (lambda s: s.replace('default = { value = 1e9, source = "test" }',
                         'default = { value = 1e9, source = "" }'),
     "mine.toml: peak.vector.default.source: must say where the number comes from"),
    (lambda s: s + '[compute.frob]\nf32 = { value = 1.0, source = "x" }\n',
     "mine.toml: compute.frob: unknown primitive"),
    (lambda s: s + '[compute.add]\nf99 = { value = 1.0, source = "x" }\n',
     "mine.toml: compute.add.f99: unknown dtype"),
    (lambda s: s.replace("on_chip = false", "on_chip = true"),
     "exactly one off-chip level"),
    (lambda s: s.replace("process_nm = 7", "process_nm = 7\nspeed = 3"),
     "mine.toml: unknown key 'speed'"),
    (lambda s: s.replace('value = 1024', 'value = -1'),
     "memory.sram.capacity_bytes.value: must be a finite positive number, got -1"),
    (lambda s: s.replace('value = 1.0, source = "test" }\nkernel', 'value = nan, source = "test" }'
                         '\nkernel'), "static_power_w.value: must be a finite non-negative number, "
                                       "got nan"),
    (lambda s: s.replace('value = 100.0', 'value = inf'),
     "memory.dram.pj_per_byte.value: must be a finite non-negative number, got inf"),
    (lambda s: s.replace('bandwidth_bytes_per_s = { value = 1e9', 'bandwidth_bytes_per_s = '
                         '{ value = 0', 1), "memory.sram.bandwidth_bytes_per_s.value: must be a "
                                            "finite positive number, got 0"),
    (lambda s: s.replace('default = { value = 1e9', 'default = { value = 0.0'),
     "peak.vector.default.value: must be a finite positive number"),
    (lambda s: s.replace("process_nm = 7", "process_nm = 0"), "process_nm.value: must be a "
                                                             "finite positive number"),
    (lambda s: s.replace("process_nm = 7", 'process_nm = 7\nmax_power_w = { value = 0.5, '
                         'source = "t" }'),
     r"max_power_w \(0.5 W\) must be above the static and busy-floor power \(1 W\)"),
    (lambda s: s.replace("process_nm = 7", 'process_nm = 7\nmax_power_w = { value = 5, source = '
                         '"t" }\nbusy_floor_w = { value = 6, source = "t" }'),
     r"above the static and busy-floor power \(6 W\)"),
    (lambda s: s.replace("process_nm = 7", 'process_nm = 7\nmatrix_efficiency = { value = 1.5, '
                         'source = "t" }'), "matrix_efficiency: a share between 0 and 1, got 1.5"),
    (lambda s: s.replace("process_nm = 7", 'process_nm = 7\nsms = { value = 0, source = "t" }'),
     r"sms: must be positive \(leave it out where unknown\)"),
    (lambda s: s.replace("process_nm = 7", 'process_nm = 7\nweights_resident_below_bytes = '
                         '{ value = 9, source = "t" }\nweights_evicted_above_bytes = { value = 8, '
                         'source = "t" }'), "weights_resident_below_bytes must not exceed"),
    (lambda s: s.replace("process_nm = 7", 'process_nm = 7\nconfidence = "sure"'),
     "confidence: one of measured, partly measured, estimate, reference, unstated, got 'sure'"),
    (lambda s: s.replace("process_nm = 7", 'process_nm = 7\nbase = "mine.toml"\nscale = '
                         '{ value = 1, source = "t" }'),
     r"mine.toml: base targets form a cycle \(mine.toml -> mine.toml\)"),
    (lambda s: s + "[[[", "mine.toml: not valid TOML"),
    (lambda s: s + '[attention.f99]\ntile_rows = { value = 64, source = "x" }\n',
     "mine.toml: attention.f99: unknown dtype"),
    (lambda s: s + '[attention.bf16]\ntile_rows = { value = 64, source = "x" }\n',
     "mine.toml: attention.bf16: missing key 'tile_keys' \\(give all of: tile_rows, tile_keys"),
    (lambda s: s + '[attention.bf16]\nwarps = { value = 4, source = "x" }\n',
     "mine.toml: attention.bf16: unknown key 'warps' \\(allowed: tile_rows"),
    (lambda s: s + "[attention.bf16]\n" + "".join(
        f'{k} = {{ value = {0 if k == "blocks_per_sm" else 1}, source = "x" }}\n' for k in (
            "tile_rows", "tile_keys", "blocks_per_sm", "block_s", "step_s", "step_per_dim_s",
            "mask_step_s", "unaligned_mask_step_s")),
     "mine.toml: attention.bf16.blocks_per_sm.value: must be a finite positive number, got 0"),
])
def test_malformed_target_errors_name_the_key(tmp_path: Path, edit, message):
    path = tmp_path / "mine.toml"
    path.write_text(edit(GOOD))
    with pytest.raises(TargetError, match=message):
        load_target(path)


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(TargetError, match="unknown target 'tpu9'; known targets: a10, a100, "
                                          "b200, cortex-m, h100"):
        load_target("tpu9")


def test_a_dropped_in_target_is_found_by_name(tmp_path: Path, monkeypatch):
    (tmp_path / "mine.toml").write_text(GOOD)
    monkeypatch.setenv("NEXUS_TARGETS", str(tmp_path))
    assert "mine" in list_targets() and load_target("mine").description == "a test target"


def test_a_relative_base_is_found_beside_the_file_not_in_the_working_directory(
        tmp_path: Path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "ref.toml").write_text(GOOD.replace('"mine"', '"ref"'))
    (tmp_path / "models" / "child.toml").write_text(GOOD.replace('"mine"', '"child"').replace(
        "process_nm = 7", 'process_nm = 7\nbase = "ref.toml"\nscale = { value = 2, source = "t" }'
    ).replace('energy_per_transistor_fj = { value = 0.1, source = "test" }\n', ""))
    monkeypatch.chdir(tmp_path)
    child = load_target(Path("models/child.toml"))
    assert child.base.name == "ref"
    assert child.energy_pj("add", "i8") == pytest.approx(2 * 0.1e-3 * 224)


def test_a_cycle_through_two_files_names_the_chain(tmp_path: Path):
    for name, other in (("a", "b"), ("b", "a")):
        (tmp_path / f"{name}.toml").write_text(GOOD.replace('"mine"', f'"{name}"').replace(
            "process_nm = 7", f'process_nm = 7\nbase = "{other}.toml"\nscale = '
                              '{ value = 1, source = "t" }'))
    with pytest.raises(TargetError, match=r"base targets form a cycle \(a.toml -> b.toml -> "
                                          r"a.toml\)"):
        load_target(tmp_path / "a.toml")


ESTIMATES = ("l4", "a10", "rtx4090", "b200", "jetson-orin")


@pytest.mark.parametrize("name", ESTIMATES)
def test_datasheet_targets_are_estimates_with_their_datasheet_rates(name):
    t = load_target(name)
    assert t.confidence == "estimate" and "estimate" in t.description
    assert not t.expected_error, "an estimate states no validated error"
    assert t.max_power_w.value > t.floor_power_w > t.static_power_w.value
    # the fp32 lane rate is the datasheet's TFLOPS / 2 (one FMA = two FLOPs)
    fp32_tflops = {"l4": 30.3, "a10": 31.2, "rtx4090": 82.6, "b200": 74.4, "jetson-orin": 5.32}
    assert t.peak_rate("vector", "f32") == pytest.approx(fp32_tflops[name] * 1e12 / 2, rel=1e-2)
    # the busy floor: idle + 6.4 % of the board limit, active power 44 % of it
    assert t.floor_power_w == pytest.approx(t.static_power_w.value + 0.064 * t.max_power_w.value,
                                            abs=0.05)
    assert t.number("active_power_w") == pytest.approx(0.44 * t.max_power_w.value, abs=0.05)


def test_estimate_reports_say_unvalidated():
    from nexus_ir.app.render_text import report_text
    from passes.cost import cost_graph
    from nexus_ir.app.api import example_graph

    graph = example_graph("cnn").bind_symbols({"batch": 1})
    text = report_text(cost_graph(graph, "l4", bindings={"batch": 1}))
    assert "expected error: unvalidated for this target and mode (its numbers are datasheet-" \
        "derived estimates)" in " ".join(text.split())
