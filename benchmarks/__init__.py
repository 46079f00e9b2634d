"""Repeatable measurements. Each returns a dict the CLI prints as JSON, always with a
baseline measured in the same run and the ratio between them."""
