"""Building blocks with no public rule of their own (shared by several public rules)."""
