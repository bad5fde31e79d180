"""NEXUS passes: pass API, pass manager, declarative pattern rewriter, and (from the cost-model
issues on) the analysis and rewrite passes themselves."""

from .base import (AnalysisPass, FunctionAnalysisPass, Pass, PassContext, RewritePass,
                   analysis_pass, annotations_of, get_pass, register_pass, registered_passes)
from .manager import PassManager, PassTiming
from .pattern import (Match, PatternRewritePass, RewriteRule, const, op, rewrite, var)

__all__ = [
    "AnalysisPass", "FunctionAnalysisPass", "Match", "Pass", "PassContext", "PassManager",
    "PassTiming", "PatternRewritePass", "RewritePass", "RewriteRule", "analysis_pass",
    "annotations_of", "const", "get_pass", "op", "register_pass", "registered_passes", "rewrite",
    "var",
]
