"""devbox's benchmarks: the same tiny app under devbox and the reloaders people use today.

`python -m benchmarks` from the repository root (or `benchmarks/run`). One module per concern:
project.py (the app and honest edits), contenders.py (one class per contender), probe.py (HTTP),
proctree.py (processes and CPU from /proc), containers.py (Docker), measure.py (the sessions and
their measurements), runner.py (the interleaved run), report.py (the table), facts.py (machine
and versions), peers_venv.py (benchmarks/.venv). frameworks.py is a run of its own: real frameworks
(tests/apps) under devbox and under their own reloaders, in containers.
"""
