"""Plausible wrong answers to notebook 09's exercises; each must fail its check (tests/test_student.py)."""
WRONG = {
    # the closed-form KL instead of log p(z) - log q(z|x) of the drawn z: the ELBO per digit, not the log weight
    "ex1": '''
x = x_test[:32]
torch.manual_seed(3)
with torch.no_grad():
    mu, logvar = mlp.encode(x)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
    log_w1 = losses.bernoulli_log_likelihood(mlp.decode(z), x) - kl
''',
    # the formula applied to the log weights themselves instead of the weights
    "ex2": '''
torch.manual_seed(0)
with torch.no_grad():
    log_w5000 = losses.log_weights(mlp, x_test[:1], k=5000)[0]
ess = (log_w5000.sum() ** 2 / log_w5000.pow(2).sum()).item()
''',
    # the standard deviation of the three means instead of their spread (largest minus smallest)
    "ex3": '''
x = x_test[:50]
repeats = []
for seed in range(3):
    torch.manual_seed(seed)
    repeats.append(losses.log_likelihood(mlp, x, k=1000).mean().item())
mc_spread = torch.tensor(repeats).std().item()
''',
}
