"""Plausible wrong answers to notebook 05's exercises; each must fail its check cell (issue 16)."""
WRONG = {
    # Forgot that both coordinates must be inside: 1 - 0.9 instead of 1 - 0.9 ** 2.
    "ex1": '''
outside = 1 - 0.9
''',
    # Sign error in the KL formula: +1/2 (1 + logvar - mu^2 - exp(logvar)) is minus the KL.
    "ex2": '''
mu, logvar = diagnostics.encode_all(model_2d, x_test)
kl = 0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
per_digit = torch.stack([kl[y_test == d].mean() for d in range(10)])
largest, smallest = int(per_digit.argmax()), int(per_digit.argmin())
''',
    # Sorted the wrong way: the quietest dimensions first, so far too many are needed.
    "ex3": '''
cumulative = kl_beta.sort().values.cumsum(0)
k90 = int((cumulative < 0.9 * kl_beta.sum()).sum()) + 1
''',
}
