// Shared by the backward shaders (grad_*.comp). Included after common.glsl.

// d/dx of the exact GELU x Phi(x): Phi(x) + x phi(x). one_plus_erf keeps the
// negative tail accurate; for large |x| exp underflows to 0 (no inf * 0).
float gelu_erf_derivative(float x)
{
    return 0.5 * one_plus_erf(x * 0.70710678118654752) + x * 0.39894228040143268 * exp(-0.5 * x * x);
}
