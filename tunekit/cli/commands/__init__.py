"""One module per command: each parses its options, calls one op, renders the result."""
