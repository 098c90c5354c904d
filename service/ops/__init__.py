"""Production tools for operators: commands that read and act on what the running relays share."""
