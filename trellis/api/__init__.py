"""The REST API (aiohttp) with its OpenAPI document, and the JSON request/response types, which are kept
separate from the core's consensus types (bytes appear as lower-case hex; addresses and hashes as ``0x…``).

May import: everything below it (``core``, ``app``, ``node``, ``storage``).
"""
