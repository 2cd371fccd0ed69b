"""Plausible wrong answers to notebook 10's exercises; each must fail its check cell (issue 16)."""
WRONG = {
    # The spread within each image (over its pixels) instead of across the 200 images.
    "ex1": '''
spread = {}
for name in ("correct", "mean over pixels"):
    rec = models[name].reconstruct(x_test[:200].to(device))
    spread[name] = rec.flatten(1).std(dim=1).mean().item()
''',
    # Took the effective beta of the mistake (784) for the fix.
    "ex2": '''
beta_fix = 784.0
''',
    # Forgot the (1 - x) log(1 - x) half of the entropy.
    "ex3": '''
x0 = grey_test[0]
floor_0 = -torch.special.xlogy(x0, x0).sum().item()
''',
}
