"""The interchain relayer (ADR 0015 section 8): carries packets, acknowledgements and timeouts between Trellis
chains, and drives the connection and channel handshakes (``handshake.connect``).

The relayer holds no authority: every fact it carries is a header with its commit or a state proof, checked by the
destination chain. It keeps no state of its own; the chains' stored packets are the queue, so a restart is a
recovery scan.

May import: ``trellis.core``, ``trellis.keys`` (and ``aiohttp`` for HTTP); never the application, the node or the
storage.
"""
