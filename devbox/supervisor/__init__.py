"""The in-container supervisor: `python3 -m devbox.supervisor`.

Standard library only, Python 3.8+: devbox copies this package alone into the container, so it
imports nothing from the rest of devbox. The contract with the host is in protocol.py.
"""
