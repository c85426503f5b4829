"""Code shared by web and api: a change here reloads both (both watch services/common)."""
