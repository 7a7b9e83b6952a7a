"""The proxy data path: wire helpers, request ids, the exchange, deadlines and the proxy."""
