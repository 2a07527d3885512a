"""Trellis: a permissioned consortium blockchain platform.

Packages, from the bottom up (imports point downward only):
``core`` (pure, deterministic), ``abci`` (the consensus/application boundary), ``app``, ``storage``,
``keys``, ``p2p``, ``node``, ``api``, ``cli`` and ``bench``.
"""

__version__ = "0.1.0"
