"""`ollama-sidecar golem`: the Golem offer properties a provider adds, the demand for a tier."""
