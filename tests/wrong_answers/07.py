"""Plausible wrong answers to notebook 07's exercises: each one must fail its test cell (issue 16)."""

WRONG = {
    # the lowest distortion alone (the rate forgotten): picks the smallest beta and the largest code
    "ex1": '''best_setting = min(cache.settings(), key=lambda s: cache.summary(*s)["distortion"])
best_neg_elbo = cache.summary(*best_setting)["rate"] + cache.summary(*best_setting)["distortion"]
''',
    # the extra rate counted as a saving: D + R's change with the wrong sign on the rate
    "ex2": '''a, b = cache.summary(1.0, cache.config.latent_sizes[0]), cache.summary(1.0, z_ref)
distortion_saved = a["distortion"] - b["distortion"]
rate_added = b["rate"] - a["rate"]
total_saved = distortion_saved + rate_added
''',
    # the 1/2 forgotten
    "ex3": '''beta4 = 4.0 if 4.0 in cache.config.betas else max(cache.config.betas)
with torch.no_grad():
    mu, logvar = cache.model(beta4, z_ref).encode(cache.x_test)
kl_dims = (mu.pow(2) + logvar.exp() - logvar - 1).mean(0)
''',
}
