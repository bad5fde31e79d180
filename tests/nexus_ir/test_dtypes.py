import numpy as np
import pytest

import nexus_ir as nx


@pytest.mark.parametrize("name,bits,exp,man", [
    ("f64", 64, 11, 52), ("f32", 32, 8, 23), ("tf32", 32, 8, 10), ("bf16", 16, 8, 7),
    ("f16", 16, 5, 10), ("f8e4m3", 8, 4, 3), ("f8e5m2", 8, 5, 2), ("f4e2m1", 4, 2, 1),
])
def test_float_formats_have_ieee_like_fields(name, bits, exp, man):
    d = nx.dtype(name)
    assert (d.bits, d.exponent_bits, d.mantissa_bits) == (bits, exp, man)
    assert d.is_float and not d.is_integer
    # sign + exponent + mantissa fills the storage except for tf32 (19 significant bits in 32)
    if name != "tf32":
        assert 1 + exp + man == bits


@pytest.mark.parametrize("name,bits,kind", [
    ("i64", 64, "int"), ("i32", 32, "int"), ("i16", 16, "int"), ("i8", 8, "int"),
    ("i4", 4, "int"), ("u8", 8, "uint"), ("i1", 1, "bool"),
])
def test_integer_formats(name, bits, kind):
    d = nx.dtype(name)
    assert d.bits == bits and d.kind.value == kind
    assert d.mantissa_bits == 0 and d.exponent_bits == 0


def test_aliases_and_numpy_mapping():
    assert nx.dtype("bool") is nx.i1
    assert nx.dtype("float32") is nx.f32
    assert nx.dtype("bfloat16") is nx.bf16
    assert nx.from_numpy(np.float16) is nx.f16
    assert nx.from_numpy(np.dtype("bool")) is nx.i1
    assert nx.to_numpy(nx.i8) == np.dtype("int8")
    assert nx.i4.itemsize == 0.5


def test_unknown_dtype_message_lists_known_ones():
    with pytest.raises(nx.NexusError, match=r"unknown dtype 'f12'; known dtypes: f64, f32"):
        nx.dtype("f12")
    with pytest.raises(nx.NexusError, match="no exact numpy equivalent"):
        nx.to_numpy(nx.bf16)
    with pytest.raises(nx.NexusError, match="numpy dtype 'complex64' has no NEXUS dtype"):
        nx.from_numpy(np.complex64)


def test_all_issue_dtypes_exist():
    names = {d.name for d in nx.ALL_DTYPES}
    assert names == {"f64", "f32", "tf32", "bf16", "f16", "f8e4m3", "f8e5m2", "f4e2m1", "i64",
                     "i32", "i16", "i8", "i4", "u8", "i1"}
