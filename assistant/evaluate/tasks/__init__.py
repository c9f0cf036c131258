"""One module per eval task; each returns a typed ``TaskResult`` (items with scores, metrics, latency)."""
