"""BFT consensus (Tendermint-style) as a pure state machine: ``step(state, event) -> (state, effects)``.

Network messages, timer firings and the application's answers are *events*; signing and sending, scheduling
timeouts, asking the application to build or check a block, and deciding are *effects* that the shell
(``trellis.node.consensus_driver``) carries out. The protocol is specified in docs/spec/consensus.md.

May import: ``trellis.core.types``, ``codec``, ``crypto``, ``errors``, ``ledger``, ``params``; never the executor
(``trellis.core.execution``) or the modules. No I/O, clock, randomness or asyncio.
"""
