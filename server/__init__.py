"""Backprop Lab's server: pages, the WebSocket session and the wire protocol.

It owns pacing, sessions and the wire format; the maths lives in :mod:`engine`.
"""
