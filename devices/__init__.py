"""Device agents that speak the contract: ankle monitor and victim device."""
