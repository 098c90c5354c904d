"""Operator commands that ship with the relay: `pushr-relay dlq`, `pushr-relay trace` and
`pushr-relay accounts`, `pushr-relay optout`."""
