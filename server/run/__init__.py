"""One run's data, with no I/O: wire settings to engine settings, the history and
its branches, chart series, run files, compact frames, maps, and the inspector's
shaping of the engine's chain rule. Imports engine and server.protocol only."""
