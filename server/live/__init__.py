"""Per-connection and per-session life: the store of sessions, the shared clock,
a connection's two loops, a session, class sharing, playback, derived views and
the outbox. Imports server.run and engine, never server.routes."""
