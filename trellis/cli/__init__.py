"""The ``trellis`` command line: init, node start, keys, tx, query, and one file per module's commands (certs,
contract, did, vc, notary, validators, blobs, light, hsm).

May import: every package but ``trellis.storage`` (it is the top layer; a node's stores are opened and closed by
``trellis.node``).
"""
