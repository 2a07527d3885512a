"""The ``interchain`` module: light clients of other Trellis chains, connections, channels and packets
(docs/spec/interchain.md; ADR 0015).

One shape, like every module (docs/guides/writing-a-module.md), with the handlers split by subject into
``handlers/`` (clients, connections, channels, packets), ``client.py`` (the pure client rules over
``core/lightclient.py``), ``proofs.py`` (state-proof checks against a client) and ``packets.py`` (the step
functions other modules call to send packets). The package imports nothing eagerly.
"""
