"""Model-checked fuzzing of the heap, the collector and the type registry.

``python -m drc fuzz`` runs seeded random operation streams (`drc.fuzz.ops`) against a
plain-Python reference model (`drc.fuzz.model`); failures are shrunk and written out as
reproducer scripts (`drc.fuzz.runner`). The same op language is the input format of the
coverage-guided target in ``tests/fuzz/atheris_target.py``.
"""

from drc.fuzz.model import Config, Executor, FuzzFailure, run_ops
from drc.fuzz.ops import OPS, from_bytes, generate, to_bytes
from drc.fuzz.runner import replay, shrink, stream

__all__ = ["OPS", "Config", "Executor", "FuzzFailure", "from_bytes", "generate", "replay",
           "run_ops", "shrink", "stream", "to_bytes"]
