"""Tensor dimensions: integers or symbolic expressions over named sizes.

A dimension is an ``int`` or a ``str``. A string is either a symbol (``"batch"``, ``"seq"``, any
Python identifier) or an arithmetic expression over symbols and integers using ``+ - * // %``,
``max(a, b)`` and ``min(a, b)``, e.g. ``"2*seq+1"``. Shape inference builds expressions when it
derives a size from a symbolic one (a strided conv over a symbolic height); binding symbols to
sizes later turns them back into integers. Expressions are kept in one canonical spelling (Python's
own unparser, spaces removed, constants folded) so that equal expressions compare equal as strings.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Mapping

from .errors import ShapeError

Dim = int | str

_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}
_CALLS = {"max": max, "min": min}


def _check(node: ast.AST, text: str) -> None:
    """Reject any syntax outside the small dimension-expression language."""
    for sub in ast.walk(node):
        ok = isinstance(sub, (ast.Expression, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.USub,
                              ast.Call, *_BINOPS))
        ok = ok or (isinstance(sub, ast.Constant) and type(sub.value) is int)
        if isinstance(sub, ast.Call):
            ok = isinstance(sub.func, ast.Name) and sub.func.id in _CALLS and not sub.keywords \
                and len(sub.args) == 2
        if not ok:
            raise ShapeError(
                f"invalid dimension expression '{text}': only integers, symbol names, "
                "+ - * // %, max(a, b) and min(a, b) are allowed"
            )


class _Fold(ast.NodeTransformer):
    """Substitute bound symbols (a size, or a new name), fold constants and drop identities
    (x*1, x+0, x//1)."""

    def __init__(self, bindings: Mapping[str, int | str]):
        self.bindings = bindings

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.bindings:
            new = self.bindings[node.id]
            return ast.Name(new, ast.Load()) if isinstance(new, str) else ast.Constant(int(new))
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.operand, ast.Constant):
            return ast.Constant(-node.operand.value)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        left, right, op = node.left, node.right, type(node.op)
        lc = left.value if isinstance(left, ast.Constant) else None
        rc = right.value if isinstance(right, ast.Constant) else None
        if lc is not None and rc is not None:
            if op in (ast.FloorDiv, ast.Mod) and rc == 0:
                raise ShapeError("dimension expression divides by zero")
            return ast.Constant(_BINOPS[op](lc, rc))
        if (op is ast.Add and rc == 0) or (op is ast.Sub and rc == 0):
            return left
        if op is ast.Add and lc == 0:
            return right
        if (op is ast.Mult and rc == 1) or (op is ast.FloorDiv and rc == 1):
            return left
        if op is ast.Mult and lc == 1:
            return right
        if op is ast.Mult and (lc == 0 or rc == 0):
            return ast.Constant(0)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if all(isinstance(a, ast.Constant) for a in node.args):
            return ast.Constant(_CALLS[node.func.id](*(a.value for a in node.args)))
        if ast.dump(node.args[0]) == ast.dump(node.args[1]):
            return node.args[0]
        first, second = _poly(node.args[0]), _poly(node.args[1])
        if first is not None and second is not None:
            gap = dict(first)
            for key, c in second.items():
                gap[key] = gap.get(key, 0) - c
            if not any(c for key, c in gap.items() if key):   # they differ by a constant
                larger = gap.get((), 0) >= 0
                return node.args[0 if larger == (node.func.id == "max") else 1]
        node.args.sort(key=ast.unparse)   # max and min commute: one canonical argument order
        return node


Poly = dict[tuple[str, ...], int]


def _poly(node: ast.AST) -> Poly | None:
    """The expression as a polynomial ``{sorted symbol tuple: coefficient}``, or None when it
    uses anything beyond + - * and exact division by a constant."""
    if isinstance(node, ast.Constant):
        return {(): node.value} if node.value else {}
    if isinstance(node, ast.Name):
        return {(node.id,): 1}
    if isinstance(node, ast.UnaryOp):
        inner = _poly(node.operand)
        return None if inner is None else {k: -c for k, c in inner.items()}
    if not isinstance(node, ast.BinOp):
        return None
    left, right = _poly(node.left), _poly(node.right)
    if left is None or right is None:
        return None
    out: Poly = {}
    if isinstance(node.op, (ast.Add, ast.Sub)):
        sign = 1 if isinstance(node.op, ast.Add) else -1
        out = dict(left)
        for k, c in right.items():
            out[k] = out.get(k, 0) + sign * c
    elif isinstance(node.op, ast.Mult):
        for ka, ca in left.items():
            for kb, cb in right.items():
                key = tuple(sorted(ka + kb))
                out[key] = out.get(key, 0) + ca * cb
    elif isinstance(node.op, ast.FloorDiv) and len(right) == 1:
        quotient = _divide_exactly(left, *next(iter(right.items())))
        if quotient is None:
            return None
        out = quotient
    else:
        return None
    return {k: c for k, c in out.items() if c}


def _divide_exactly(poly: Poly, key: tuple[str, ...], coef: int) -> Poly | None:
    """``poly // (coef * key)`` when the monomial divides every term exactly, else None."""
    out: Poly = {}
    for term, c in poly.items():
        rest = list(term)
        for name in key:
            if name not in rest:
                return None
            rest.remove(name)
        if c % coef:
            return None
        out[tuple(rest)] = c // coef
    return out


def _emit(poly: Poly) -> ast.AST:
    """Canonical expression of a polynomial: higher degree first, then by name, constant last."""
    terms = []
    for key in sorted(poly, key=lambda k: (-len(k), k)):
        coef = poly[key]
        factors = list(key) if abs(coef) == 1 and key else [str(abs(coef)), *key]
        terms.append(("-" if coef < 0 else "+") + "*".join(factors))
    text = "".join(terms).lstrip("+") or "0"
    return ast.parse(text, mode="eval").body


class _Normalize(ast.NodeTransformer):
    """Rewrite every maximal polynomial subexpression into its canonical form."""

    def visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Expression):
            node.body = self.visit(node.body)
            return node
        poly = _poly(node)
        if poly is not None:
            return _emit(poly)
        return self.generic_visit(node)


def _finish(tree: ast.Expression) -> Dim:
    tree = _Fold({}).visit(_Normalize().visit(_Fold({}).visit(tree)))
    body = tree.body
    if isinstance(body, ast.UnaryOp) and isinstance(body.operand, ast.Constant):
        return -body.operand.value
    if isinstance(body, ast.Constant):
        return int(body.value)
    return ast.unparse(body).replace(" ", "")


@functools.lru_cache(maxsize=65536)
def canonical(dim: Dim) -> Dim:
    """The canonical spelling of a dimension; validates expression syntax."""
    if isinstance(dim, bool):
        raise ShapeError(f"invalid dimension {dim!r}: use an int or a symbol name")
    if isinstance(dim, int):
        return dim
    if not isinstance(dim, str):
        if hasattr(dim, "__index__"):
            return int(dim)
        raise ShapeError(f"invalid dimension {dim!r}: use an int or a symbol name")
    try:
        tree = ast.parse(dim.strip(), mode="eval")
    except SyntaxError:
        raise ShapeError(f"invalid dimension expression '{dim}'") from None
    _check(tree, dim)
    return _finish(_Fold({}).visit(tree))


def symbols(dim: Dim) -> frozenset[str]:
    """Symbol names a dimension depends on."""
    if isinstance(dim, int):
        return frozenset()
    return _symbols_of(dim)


@functools.lru_cache(maxsize=65536)
def _symbols_of(expr: str) -> frozenset[str]:
    tree = ast.parse(expr, mode="eval")
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)) - frozenset(_CALLS)


def bind(dim: Dim, bindings: Mapping[str, int | str]) -> Dim:
    """Substitute sizes for symbols (an ``int`` once every symbol it uses is bound); a string
    value renames the symbol instead."""
    for new in bindings.values():
        if isinstance(new, str) and not new.isidentifier():
            raise ShapeError(f"cannot rename a symbol to '{new}': use an identifier")
    if isinstance(dim, int):
        return dim
    used = symbols(dim)
    if not used & bindings.keys():
        return dim
    tree = ast.parse(dim, mode="eval")
    return _finish(_Fold({k: bindings[k] for k in used if k in bindings}).visit(tree))


def is_static(dim: Dim) -> bool:
    return isinstance(dim, int)


def _combine(op: str, a: Dim, b: Dim) -> Dim:
    return canonical(f"({a}){op}({b})")


def add(a: Dim, b: Dim) -> Dim:
    return a + b if isinstance(a, int) and isinstance(b, int) else _combine("+", a, b)


def sub(a: Dim, b: Dim) -> Dim:
    return a - b if isinstance(a, int) and isinstance(b, int) else _combine("-", a, b)


def mul(a: Dim, b: Dim) -> Dim:
    return a * b if isinstance(a, int) and isinstance(b, int) else _combine("*", a, b)


def floordiv(a: Dim, b: Dim) -> Dim:
    if b == 0:
        raise ShapeError("dimension expression divides by zero")
    return a // b if isinstance(a, int) and isinstance(b, int) else _combine("//", a, b)


def ceildiv(a: Dim, b: Dim) -> Dim:
    """``ceil(a / b)`` for positive ``b``, spelled with floor division."""
    return floordiv(add(a, sub(b, 1)), b)


def maximum(a: Dim, b: Dim) -> Dim:
    return max(a, b) if isinstance(a, int) and isinstance(b, int) else canonical(f"max({a},{b})")


def minimum(a: Dim, b: Dim) -> Dim:
    return min(a, b) if isinstance(a, int) and isinstance(b, int) else canonical(f"min({a},{b})")


def product(dims: "list[Dim] | tuple[Dim, ...]") -> Dim:
    """Product of dimensions; an int when all are static."""
    static = 1
    result: Dim = 1
    for d in dims:
        if isinstance(d, int):
            static *= d
        else:
            result = mul(result, d)
    return mul(static, result)


def total(dims: "list[Dim] | tuple[Dim, ...]") -> Dim:
    """Sum of dimensions; an int when all are static."""
    result: Dim = 0
    for d in dims:
        result = add(result, d)
    return result
