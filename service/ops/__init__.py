"""Operator commands that ship with the relay."""
