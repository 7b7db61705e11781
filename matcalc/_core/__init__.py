"""The core layer: the helpers every rule uses and the one place that touches JAX internals.

``arrays`` (conjugate transpose, full-precision products, dtype promotion), ``validation`` (checks
at the public boundary), ``tolerance`` (when eigenvalues count as repeated, when a pivot counts as
singular), ``results`` (JAX's named result types), ``primitives`` (declaring a primitive from its
implementation, JVP, transpose and batching rule) and ``jaxpr`` (what the jaxpr interpreter of
``use_rules`` reads). Nothing here imports the kernels or a family.
"""
