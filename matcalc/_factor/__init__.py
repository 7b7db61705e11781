"""Factorizations with hand-derived derivative rules.

cholesky, qr, lu, eig/eigvals, svd/svdvals, schur, hessenberg; each module states the gauge
convention of its derivative where the factorization has one.
"""
