"""Operator commands that ship with the relay: `pushr-relay dlq` and `pushr-relay trace`."""
