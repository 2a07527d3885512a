"""The application behind the ABCI boundary: admission checks, block building and checking, the atomic
commit, and typed queries (accounts, kv records, state values with proofs, transaction history); ``modules``
holds each module's read side.

May import: ``trellis.core``, ``trellis.abci``, ``trellis.storage`` and the libraries ``trellis.vc``,
``trellis.blobs``, ``trellis.notary``. Never ``node``, ``p2p``, ``api``, ``cli`` or ``bench``: the shell drives
the application through ``trellis.abci.Application``.
"""

from trellis.app.application import TrellisApp

__all__ = ["TrellisApp"]
