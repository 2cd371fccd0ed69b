"""Plausible wrong answers to notebooks/02_elbo.ipynb's exercises; each must fail its test cell."""
WRONG = {
    # searched a grid of variances but reported the variance, not the standard deviation
    "ex1": '''var_fine = torch.linspace(0.01, 2, 200_001)
best_sigma = var_fine[elbo(x, 0.0, var_fine.sqrt()).argmax()].item()
''',
    # forgot to change the noise: the gap of the original model (s = 0.8)
    "ex2": '''gap_noisy = toy.gap(x, 0.0, 1.0).item()
''',
    # k = 10 importance samples instead of k = 1: a tighter bound, not the ELBO
    "ex3": '''draws = toy.iwae(x, 0.3, 0.7, 10, reps=200_000, generator=torch.Generator().manual_seed(1))
mean_k1, se_k1 = draws.mean().item(), (draws.std() / math.sqrt(len(draws))).item()
''',
}
