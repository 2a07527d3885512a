"""The boundary between consensus and the application (ABCI-like).

Consensus never imports application modules; it drives the application only through ``Application``.
"""
