"""The registry of our own /metrics collectors: `ops` serves it and registers its own; an app
beside `ops` (rollout) registers its collectors here in its `ready()`, since neither imports the
other."""

import prometheus_client

REGISTRY = prometheus_client.CollectorRegistry(auto_describe=False)
