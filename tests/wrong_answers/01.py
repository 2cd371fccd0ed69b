"""Plausible wrong answers to notebooks/01_kl_divergence.ipynb's exercises; each must fail its test cell."""
WRONG = {
    # log(sigma_1 / sigma_2) instead of log(sigma_2 / sigma_1): the log term upside down
    "ex1": '''by_hand = math.log(2 / 1) + (2**2 + (1 - 0) ** 2) / (2 * 1) - 1 / 2
''',
    # log(sigma) passed as logvar: forgot that logvar is log(sigma^2)
    "ex2": '''kl_sure = []
for sigma in (1.0, 0.1, 0.01, 0.001):
    logvar = torch.tensor([[math.log(sigma)]])
    kl_sure.append(losses.kl_normal(torch.zeros(1, 1), logvar).item())
''',
    # forgot the 1/2
    "ex3": '''def kl_equal_var(mu1, mu2, var):
    return (mu1 - mu2) ** 2 / var
''',
}
