"""Plausible wrong answers to the exercises of notebooks/11_posterior_collapse.ipynb; each test cell must fail them."""
WRONG = {
    # the floor applied to each image's KL before averaging: every image gets its own free nats
    "ex1": '''
with torch.no_grad():
    mu, logvar = models["free bits", 0].encode(x_test)
    kl_d = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    billed_kl = kl_d.clamp(min=FREE_BITS).sum(1).mean().item()
''',
    # the mask inverted: zeroes the used units and keeps the unused ones
    "ex2": '''
plain = models["plain ELBO", 0]
used = results["plain ELBO", 0]["kl_d"] > USED
with torch.no_grad():
    mu, _ = plain.encode(x_test)
    recon_all = -losses.bernoulli_log_likelihood(plain.decode(mu), x_test).mean().item()
    recon_pruned = -losses.bernoulli_log_likelihood(plain.decode(mu.masked_fill(used.to(mu.device), 0.0)), x_test).mean().item()
''',
    # log sum_i w_i instead of log (1/k) sum_i w_i: forgot to subtract log k
    "ex3": '''
torch.manual_seed(1)
with torch.no_grad():
    log_w = iwae_log_weights(models["IWAE, k = 5", 0], x_test[:500], 50)
bound_1 = log_w[:, 0].mean().item()
bound_50 = torch.logsumexp(log_w, dim=1).mean().item()
''',
}
