"""The core op set. Importing this package registers every op."""

from . import (attention, conv, elementwise, linalg, ml, movement, norm, opaque, quant, recurrent,
               reduce)

__all__ = ["attention", "conv", "elementwise", "linalg", "ml", "movement", "norm", "opaque",
           "quant", "recurrent", "reduce"]
