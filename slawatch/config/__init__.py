"""Config files: inventory, SLA policy, agent and collector settings, all strict and line-aware."""
