"""slawatch: shared foundation of the agent, the collector and the simulator (config models)."""
