"""Trellis: a permissioned consortium blockchain platform.

Packages, from the bottom up (imports point downward only; each ``__init__`` states its package's rule, and
``MAY_IMPORT`` in tests/unit/test_layering.py checks it): ``core`` (pure, deterministic; the modules in
``core.modules``), ``storage``, ``keys``, ``blobs``, ``vc``, ``p2p`` and ``notary`` (each on the core; ``p2p``
and ``notary`` also on ``keys``), ``abci`` (the consensus/application boundary: the core and the block-store port
``storage.block_store``), ``app`` (the application behind it), ``node`` (the shell; the application only where
``node.assembly`` wires it), ``api``, ``cli`` and ``bench``.
"""

__version__ = "0.1.0"
