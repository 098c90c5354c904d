"""Settings that cannot work: a bad combination, an unreadable file, credentials a server
refused at start-up.

Raised as `ConfigurationError` (or as a refused `Settings` validation), and reported by
`service.cli` for every command in one line, `pushr-relay: configuration error: ...`, exit
status 2: never retried, never a stack trace.
"""

from __future__ import annotations


class ConfigurationError(Exception):
    """One line saying what to fix; it names settings and files, never a secret value."""
