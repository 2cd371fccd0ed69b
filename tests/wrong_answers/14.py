"""Plausible wrong answers to notebook 14's exercises; each must fail its test cell (tests/test_student.py)."""

WRONG = {
    # the marginal KL's share instead of the mutual information's
    "ex1": '''mi_share = (marginal_terms_20.mean() / (mi_terms_20 + marginal_terms_20).mean()).item()''',
    # exp(H(y)) alone: rewards diversity, forgets that each sample should be confident
    "ex2": '''def inception_score(logits):
    per_sample, overall = priors.label_entropies(logits)
    return math.exp(overall)''',
}
