"""Plausible wrong answers to notebook 08's exercises: each one must fail its test cell (issue 16)."""

WRONG = {
    # the roles of the two sets swapped: clothes as in-distribution, digits as out (every AUC becomes 1 - AUC)
    "ex1": '''labels = load_fashion_mnist("test")[1][:N]
class_auc = [anomaly.roc(scores["Fashion-MNIST"]["neg_elbo"][labels == c], scores["MNIST test"]["neg_elbo"])[2]
             for c in range(10)]
hardest = min(range(10), key=lambda c: class_auc[c])
''',
    # the slope fitted on the test digits, the very images the AUC is measured on
    "ex2": '''lit_test = x_test.flatten(1).sum(1)
design = torch.stack([lit_test, torch.ones(len(lit_test))], 1)
slope = torch.linalg.lstsq(design, scores["MNIST test"]["neg_elbo"][:, None]).solution[0, 0].item()
adjusted = {name: scores[name]["neg_elbo"] - slope * lit[name] for name in ("MNIST test", "Fashion-MNIST")}
_, _, adjusted_auc = anomaly.roc(adjusted["MNIST test"], adjusted["Fashion-MNIST"])
''',
    # the thresholds set on the digits instead of the held-out clothes
    "ex3": '''t_raw = anomaly.threshold_at(paradox["MNIST digits"], fpr=0.05)
flagged_raw = (paradox["MNIST digits"] > t_raw).float().mean().item()
t_corrected = anomaly.threshold_at(corrected["MNIST digits"], fpr=0.05)
flagged_corrected = (corrected["MNIST digits"] > t_corrected).float().mean().item()
''',
}
