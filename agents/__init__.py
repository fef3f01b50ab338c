"""The implemented multi-agent systems, one module each (registered on import)."""
