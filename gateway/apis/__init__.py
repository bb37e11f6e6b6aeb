"""The APIs the gateway speaks besides Chat Completions: each a thin translation at the edge."""
