"""The ``trellis`` command line: init, node start, keys, tx, query.

May import: everything (it is the top layer).
"""
