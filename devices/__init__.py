"""Device-side agents (ankle monitor, victim device): see the open issues."""
