"""The application behind the ABCI boundary: admission checks, block building and checking, the atomic
commit, and typed queries (accounts, kv records, state values with proofs, transaction history).

May import: ``trellis.core``, ``trellis.abci``, ``trellis.storage``.
"""

from trellis.app.application import TrellisApp

__all__ = ["TrellisApp"]
