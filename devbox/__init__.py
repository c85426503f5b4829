"""devbox: develop Python web apps inside Docker containers with instant reloads."""

__version__ = "0.1.0"
