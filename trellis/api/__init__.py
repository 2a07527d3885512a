"""The REST API (aiohttp) with its OpenAPI document, and the JSON request/response types, which are kept
separate from the core's consensus types (bytes appear as lower-case hex; addresses and hashes as ``0x…``).

``server`` serves the node's own routes (status, transactions and their streams, blocks, state, metrics, the
document) and mounts every module's routes file (``api/<name>.py``, beside its read side in
``trellis.app.modules``), each listed once in ``registry.ROUTE_MODULES``; ``openapi`` merges their paths and
schemas. ``types`` holds the hand-written JSON types, ``payload_json`` the payload JSON generated from the
modules' messages, ``hexjson`` the hex building blocks, ``params`` and ``responses`` what every route shares.

May import: ``trellis.core``, ``trellis.abci``, ``trellis.app.modules`` (the read side), ``trellis.node``,
``trellis.vc``, ``trellis.blobs``, ``trellis.notary``, ``trellis.keys``. Never ``trellis.storage`` nor
``trellis.app.application``: state is read through ``node.app.reader()``, blocks, receipts and transaction
positions through ``node.blocks`` (tests/unit/test_layering.py, tests/unit/test_api_boundary.py).
"""
