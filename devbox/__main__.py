from devbox.cli import program

raise SystemExit(program())
