"""The BentoML service that serves the registry version pinned for an environment."""
