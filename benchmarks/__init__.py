"""matcalc benchmark suite: ``python -m benchmarks --help``.

Compares every matcalc rule with JAX's default derivative of the same function (or, where JAX has
none or it fails, with the best alternative a user could write): forward, JVP and forward+VJP
time, compile time, compiled temporary memory and derivative accuracy. Importing this package does
not import JAX (the CLI sets ``JAX_PLATFORMS``/``XLA_FLAGS`` first).
"""
