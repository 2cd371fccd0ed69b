"""Plausible wrong answers to notebook 13's exercises; each must fail its test cell (tests/test_student.py)."""

WRONG = {
    # the approximation gap's share instead of the amortization gap's
    "ex1": '''amort_fraction = ((log_px - elbo_g).mean() / (log_px - elbo_phi).mean()).item()''',
    # the identity part scales all D directions, but only D - 1 of them are orthogonal to z - z0
    "ex2": '''def radial(z, z0, alpha, beta):
    diff = z - z0
    r = diff.norm(dim=-1, keepdim=True)
    h = 1 / (alpha + r)
    D = z.shape[-1]
    log_det = D * torch.log1p(beta * h) + torch.log1p(beta * h - beta * r / (alpha + r) ** 2)
    return z + beta * h * diff, log_det.squeeze(-1)''',
}
