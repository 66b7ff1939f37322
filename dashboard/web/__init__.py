"""The web adapters: Quart blueprints, the Hypercorn server and the command line.

Everything here turns HTTP and WebSocket traffic into calls on the core in
``dashboard`` and back; the decisions themselves are made there.
"""
