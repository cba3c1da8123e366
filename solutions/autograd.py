"""Automatic differentiation warm-up: gradients with ``jax.grad``, through Python control flow, and
how ``jax.lax.stop_gradient`` (the book's ``detach``) cuts a value out of the graph."""

import jax
import jax.numpy as jnp


def two_x_dot_x(x):
    """y = 2 x^T x, whose gradient is dy/dx = 4x."""
    return 2 * jnp.dot(x, x)


def doubling_until_large(a):
    """Double ``a`` until its norm reaches 1000; keep the result if its sum is positive, else scale it by 100.

    Whatever branch Python takes, the result is k * a for a constant k fixed by the control flow,
    so d f / d a = f(a) / a.
    """
    b = a * 2
    while jnp.linalg.norm(b) < 1000:
        b = b * 2
    if jnp.sum(b) > 0:
        c = b
    else:
        c = 100 * b
    return c


def detached_product(x):
    """z = u * x with u = x * x treated as a constant, so dz/dx = u rather than 3x^2."""
    y = x * x
    u = jax.lax.stop_gradient(y)
    return jnp.sum(u * x)


def main():
    x = jnp.arange(4.0)
    print("x =", x)
    print("y = 2 x^T x =", two_x_dot_x(x))
    grad = jax.grad(two_x_dot_x)(x)
    print("dy/dx =", grad, "| equals 4x:", bool(jnp.all(grad == 4 * x)))

    # A non-scalar output has no single gradient; like the book's y.backward() on a vector, we
    # differentiate its sum, which gives the gradient of each entry added up.
    print("d sum(x * x)/dx =", jax.grad(lambda x: jnp.sum(x * x))(x), "(= 2x)")

    u = jax.lax.stop_gradient(x * x)
    grad_detached = jax.grad(detached_product)(x)
    print("with u = stop_gradient(x * x): d sum(u * x)/dx =", grad_detached,
          "| equals u:", bool(jnp.all(grad_detached == u)))
    print("without stop_gradient: d sum(x * x * x)/dx =", jax.grad(lambda x: jnp.sum(x * x * x))(x), "(= 3x^2)")

    # A random a, and a negative one so that the other branch runs too.
    for a in (jax.random.normal(jax.random.key(0), ()), jnp.array(-0.3)):
        f_a = doubling_until_large(a)
        grad_a = jax.grad(doubling_until_large)(a)
        print(f"control flow: a = {float(a):.4f}, f(a) = {float(f_a):.1f}, df/da = {float(grad_a):.1f}, "
              f"f(a)/a = {float(f_a / a):.1f}")


if __name__ == "__main__":
    main()
