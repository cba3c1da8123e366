"""The deep-learning basics chapter in JAX + flax.nnx + optax, one module per section."""
