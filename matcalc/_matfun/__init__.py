"""General (non-Hermitian) matrix functions with Fréchet-derivative rules."""
