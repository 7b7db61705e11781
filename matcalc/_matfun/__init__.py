"""Matrix functions with Fréchet-derivative rules: general ones (expm, logm, sqrtm, funm, signm,
trigonometric) and functions of Hermitian matrices (``hermitian``, Daleckii–Krein)."""
