"""SpMM formulation of translation-based KGE training (SparseTransX): incidence matrices
(`sparse_impl.incidence`), SpMM and fused backends with a correct backward (`sparse_impl.backends`),
and the SpMM form of every translation model, built from its spec (`sparse_impl.models`)."""
