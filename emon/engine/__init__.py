"""The pure, deterministic engine core: state, rules and alert episodes."""
