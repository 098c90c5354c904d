"""pushr-relay: Kafka SMS events in, Push.R sends out, results on an outbound topic."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pushr-relay")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
