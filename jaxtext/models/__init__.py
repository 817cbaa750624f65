"""Built-in models; importing this package registers them ("mlp", "lstm", "transformer")."""

from jaxtext.models import lstm, mlp, transformer  # noqa: F401  (registration side effect)
from jaxtext.protocols import Dims

__all__ = ["Dims"]
