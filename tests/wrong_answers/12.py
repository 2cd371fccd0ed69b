"""Plausible wrong answers to notebook 12's exercises; each must fail its test cell (the teaching kit's harness)."""
WRONG = {
    # the decoder's logits instead of its pixel probabilities (forgot the sigmoid)
    "ex1": '''z7 = torch.randn(8, 2, device=device)
sevens = cvae.decode(z7, 7)
''',
    # argmin: the class with the LOWEST ELBO (the highest loss)
    "ex2": '''x500, y500 = x_test[:500].to(device), y_test[:500].to(device)
with torch.no_grad():
    elbos = torch.stack([sum(-elbo(cvae, x500, y=torch.full((500,), k, device=device)).loss for _ in range(10)) / 10
                         for k in range(10)], dim=1)
accuracy = (elbos.argmin(1) == y500).float().mean().item()
''',
    # the true labels instead of the wrong ones
    "ex3": '''with torch.no_grad():
    mu, logvar = cvae.encode(x_test[:1000].to(device), y_test[:1000])
kl_wrong = kl_normal(mu, logvar).mean().item()
''',
}
