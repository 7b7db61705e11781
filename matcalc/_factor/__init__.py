"""Factorizations with hand-derived derivative rules.

cholesky, qr, lu, eigh/eigvalsh, eig/eigvals, svd/svdvals, schur, hessenberg, polar, the
generalized Hermitian-definite eigenproblem and the solves on stored factors; each module states
the gauge convention of its derivative where the factorization has one.
"""
