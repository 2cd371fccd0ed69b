"""Plausible wrong answers to notebooks/06_conv_vae.ipynb's exercises; each must fail its test cell."""
WRONG = {
    # forgot the (1 - x) log(1 - p) term: the "loss" then keeps falling as p -> 1
    "ex1": '''p = torch.linspace(0.001, 0.999, 999, dtype=torch.float64)
bce = -(0.3 * p.log())
p_best, bce_min = p[bce.argmin()].item(), bce.min().item()
''',
    # the constant of -log p(x|z) itself, not multiplied by 2 sigma^2
    "ex2": '''sigma2 = 0.1**2
gaussian_const = 784 / 2 * math.log(2 * math.pi * sigma2)
''',
    # transposed convolutions counted over their output positions, like convolutions
    "ex3": '''conv_macs = (16 * 14 * 14 * 1 * 16 + 32 * 7 * 7 * 16 * 16
             + 16 * 14 * 14 * 32 * 16 + 1 * 28 * 28 * 16 * 16
             + sum(l.in_features * l.out_features for l in conv.modules() if isinstance(l, nn.Linear)))
''',
}
