"""Rewrite passes, registered so ``recommend``, ``diagnose`` and ``nexus optimize`` enumerate
them: activation swaps, quantization (Q/DQ insertion through the pattern API), structured
pruning, sparsity, precision. Importing this package registers every built-in family."""

from . import activations, quantize, prune, sparsify, precision  # noqa: F401,I001  (in this order)
from .activations import SWAPS, swap_activations, swap_rule
from .precision import cast_precision
from .prune import prune_channels
from .quantize import FORMATS, quantize_activations, quantize_weights
from .registry import (Candidate, CandidatePass, RewriteContext, candidates, register_rewrite,
                       registered_rewrites)
from .sparsify import SPARSITY, sparsify_weights

__all__ = ["FORMATS", "SPARSITY", "SWAPS", "Candidate", "CandidatePass", "RewriteContext",
           "candidates", "cast_precision", "prune_channels", "quantize_activations",
           "quantize_weights", "register_rewrite", "registered_rewrites", "sparsify_weights",
           "swap_activations", "swap_rule"]
