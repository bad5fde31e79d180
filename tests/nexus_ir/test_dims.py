import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_ir import ShapeError, TensorType, dims


@pytest.mark.parametrize("text,canonical", [
    ("batch", "batch"),
    ("2 * seq + 0", "2*seq"),
    ("seq*2+seq", "3*seq"),
    ("(h+2-3)//1+1", "h"),          # a 3x3 conv with padding 1 keeps a symbolic size
    ("(12*b)//12", "b"),
    ("(h+1)//2", "(h+1)//2"),       # not exact: stays a floor division
    ("a-a", 0),
    ("max(2*s, s*2) + 1", "2*s+1"),
    ("3-8", -5),
    ("min(s, s-1)", "s-1"),         # expressions a constant apart compare
    ("max(s+2, s)", "s+2"),
    ("max(0, s-1)", "max(0,s-1)"),  # undecidable: s may be 0
])
def test_canonical_forms(text, canonical):
    assert dims.canonical(text) == canonical


def test_rejects_non_arithmetic():
    for bad in ("__import__('os')", "a.b", "a**2", "1.5*a", "f(a)", "a if b else c", "a +"):
        with pytest.raises(ShapeError, match="invalid dimension expression"):
            dims.canonical(bad)
    with pytest.raises(ShapeError, match="divides by zero"):
        dims.canonical("a//0*0+4//0")


def test_bind_renames_with_string_values():
    assert dims.bind("2*s0+s1", {"s0": "seq"}) == "s1+2*seq"      # canonical order: by name
    assert dims.bind("s0*s0", {"s0": "t", "s1": 3}) == "t*t"
    with pytest.raises(ShapeError, match="cannot rename a symbol to '1x'"):
        dims.bind("s0", {"s0": "1x"})


def test_bind_partial_and_full():
    assert dims.bind("2*seq+batch", {"seq": 3}) == "batch+6"
    assert dims.bind("2*seq+batch", {"seq": 3, "batch": 4}) == 10
    assert dims.bind("(h+1)//2", {"h": 7}) == 4
    assert dims.symbols("max(a,b)*c") == {"a", "b", "c"}


def test_tensor_type_text_round_trip():
    t = TensorType.parse("bf16[batch, max(a,b), 3]")
    assert str(t) == "bf16[batch,max(a,b),3]"
    assert TensorType.parse(str(t)) == t
    assert t.bind({"batch": 2, "a": 5, "b": 1}).numel == 30
    assert TensorType([], "f32").numel == 1
    assert TensorType([3, 5], "i4").nbytes == 8          # 15 nibbles round up to 8 bytes
    with pytest.raises(ShapeError, match=r"unbound symbols \['batch'\]; bind them"):
        TensorType.parse("f32[batch,3]").numel
    with pytest.raises(ShapeError, match="negative dimension"):
        TensorType([-2], "f32")


small = st.integers(min_value=0, max_value=50)


@given(a=small, b=small, c=st.integers(min_value=1, max_value=9))
def test_symbolic_arithmetic_agrees_with_integers(a, b, c):
    """Building an expression symbolically and binding later equals computing with ints."""
    env = {"a": a, "b": b}
    for sym, num in [
        (dims.add("a", "b"), a + b),
        (dims.sub(dims.mul("a", 3), "b"), 3 * a - b),
        (dims.floordiv(dims.add("a", c), c), (a + c) // c),
        (dims.ceildiv("a", c), -(-a // c)),
        (dims.maximum("a", dims.mul(2, "b")), max(a, 2 * b)),
        (dims.minimum("a", "b"), min(a, b)),
        (dims.product(["a", c, "b"]), a * c * b),
        (dims.total(["a", c, "b"]), a + c + b),
    ]:
        assert dims.bind(sym, env) == num
        # the canonical spelling re-parses to the same value
        assert dims.bind(dims.canonical(sym), env) == num
