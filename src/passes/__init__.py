"""NEXUS passes: pass API, pass manager, declarative pattern rewriter, the analysis passes of the
cost model (``cost``, ``switching``), diagnosis, recommendation and the registered rewrites.
Importing this package registers every built-in pass and rewrite."""

from .base import (AnalysisPass, FunctionAnalysisPass, Pass, PassContext, RewritePass,
                   analysis_pass, annotations_of, get_pass, register_pass, registered_passes)
from .manager import PassManager, PassTiming
from .pattern import (Match, PatternRewritePass, RewriteRule, const, op, rewrite, var)
from . import arena, cost, switching  # noqa: E402,F401  (register the cost passes)
from .cost import COST_PIPELINE, cost_graph  # noqa: E402
from .diagnose import Diagnosis, diagnose  # noqa: E402
from .recommend import Recommendation, recommend  # noqa: E402
from .rewrites import Candidate, register_rewrite, registered_rewrites  # noqa: E402

__all__ = [
    "COST_PIPELINE", "AnalysisPass", "Candidate", "Diagnosis", "FunctionAnalysisPass", "Match",
    "Pass", "PassContext", "PassManager", "PassTiming", "PatternRewritePass", "Recommendation",
    "RewritePass", "RewriteRule", "analysis_pass", "annotations_of", "const", "cost_graph",
    "diagnose", "get_pass", "op", "recommend", "register_pass", "register_rewrite",
    "registered_passes", "registered_rewrites", "rewrite", "var",
]
