"""Plausible wrong answers to notebooks/03_reparameterization.ipynb's exercises; each must fail its test cell."""
WRONG = {
    # the score with respect to sigma times d sigma / d logvar, but without the 1/2 of sigma = exp(logvar / 2)
    "ex1": '''def score_logvar(z, mu, logvar):
    return (z - mu) ** 2 * torch.exp(-logvar) - 1
''',
    # took column 1 (d/dsigma) instead of column 0 (d/dmu)
    "ex2": '''step, d_step = (lambda z: (z > 0).double()), (lambda z: torch.zeros_like(z))
sf_grad = score_function(step, 1.0, 0.5, 1_000_000, g())[:, 1].mean().item()
pw_grad = pathwise(d_step, 1.0, 0.5, 1_000_000, g())[:, 1].mean().item()
''',
    # subtracted the baseline from the gradient estimate instead of from f(z)
    "ex3": '''c = 1.0**2 + 0.5**2
baseline = score_function(f, 1.0, 0.5, 1_000_000, g()) - c
''',
}
