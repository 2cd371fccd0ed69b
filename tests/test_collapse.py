"""The three posterior-collapse fixes of vae_helpers.collapse (notebook 11): KL warm-up, free bits, IWAE training."""
import math

import pytest
import torch

from vae_helpers import MLPVAE, fit, losses, zoo
from vae_helpers.collapse import FreeBits, IWAELoss, KLWarmup, iwae_log_weights, loss_named


@pytest.fixture
def model():
    torch.manual_seed(0)
    return MLPVAE(latent_dim=4, hidden=(16,))


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.rand(8, 1, 28, 28).round()   # binary pixels


def seeded(fn, seed=0):
    torch.manual_seed(seed)
    return fn()


def test_warmup_anneals_beta_from_zero_over_its_steps(model, x):
    warmup = KLWarmup(4)
    model.train()
    ref = seeded(lambda: losses.elbo(model, x))
    for step in range(6):
        terms = seeded(lambda: warmup(model, x, beta=2.0))
        weight = 2.0 * min(1.0, step / 4)
        torch.testing.assert_close(terms.loss, ref.recon + weight * ref.kl)
        torch.testing.assert_close(terms.kl, ref.kl)
    assert warmup.calls == 6


def test_warmup_does_not_count_evaluation_calls(model, x):
    warmup = KLWarmup(10)
    model.eval()
    terms = seeded(lambda: warmup(model, x))
    ref = seeded(lambda: losses.elbo(model, x))
    torch.testing.assert_close(terms.loss, ref.loss)   # full beta outside training
    assert warmup.calls == 0


def test_warmup_counts_one_call_per_fit_step(model, x):
    warmup = KLWarmup(100)
    fit(model, x.repeat(4, 1, 1, 1), epochs=2, batch_size=10, loss_fn=warmup, progress=False, seed=0)
    assert warmup.calls == 2 * math.ceil(32 / 10)


@pytest.mark.parametrize("steps", [0, -3, 2.5, None])
def test_warmup_rejects_bad_steps(steps):
    with pytest.raises(ValueError, match="steps"):
        KLWarmup(steps)


def test_free_bits_with_zero_floor_is_the_elbo(model, x):
    # Per-dimension KLs are non-negative, so a floor of 0 changes nothing but the batch averaging of the KL.
    terms = seeded(lambda: FreeBits(0.0)(model, x))
    ref = seeded(lambda: losses.elbo(model, x))
    torch.testing.assert_close(terms.loss.mean(), ref.loss.mean())
    torch.testing.assert_close(terms.kl, ref.kl)
    torch.testing.assert_close(terms.recon, ref.recon)


def test_free_bits_bills_at_least_the_floor_per_dimension(model, x):
    terms = seeded(lambda: FreeBits(0.5)(model, x))
    assert (terms.loss - terms.recon >= 4 * 0.5 - 1e-6).all()
    kl_d = seeded(lambda: model(x)[1:])
    mu, logvar = kl_d
    expected = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0).clamp(min=0.5).sum()
    torch.testing.assert_close(terms.loss - terms.recon, expected.expand(len(x)))


def test_free_bits_below_the_floor_the_kl_has_no_gradient(model, x):
    # With a floor far above every dimension's KL, only the reconstruction term sends gradients.
    model.zero_grad()
    seeded(lambda: FreeBits(1e6)(model, x)).loss.mean().backward()
    free = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    seeded(lambda: losses.elbo(model, x)).recon.mean().backward()
    for a, p in zip(free, model.parameters()):
        torch.testing.assert_close(a, p.grad)


@pytest.mark.parametrize("lambda_", [-0.1, float("nan")])
def test_free_bits_rejects_a_negative_floor(lambda_):
    with pytest.raises(ValueError, match="lambda_"):
        FreeBits(lambda_)


@pytest.mark.parametrize("likelihood,grey", [("bernoulli", False), ("bernoulli", True), ("gaussian", True)])
def test_iwae_log_weights_match_log_weights_with_gradients(likelihood, grey, x):
    torch.manual_seed(0)
    model = MLPVAE(latent_dim=4, hidden=(16,), likelihood=likelihood)
    if grey:
        x = torch.rand_like(x)
    ours = seeded(lambda: iwae_log_weights(model, x, 7))
    reference = seeded(lambda: losses.log_weights(model, x, 7))
    assert ours.shape == (8, 7) and ours.requires_grad
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-3)


def test_iwae_loss_is_the_bound_and_tightens_with_k(model, x):
    log_w = seeded(lambda: iwae_log_weights(model, x, 20))
    terms = seeded(lambda: IWAELoss(20)(model, x))
    torch.testing.assert_close(terms.loss, -(torch.logsumexp(log_w, 1) - math.log(20)))
    torch.testing.assert_close(terms.recon + terms.kl, terms.loss.detach())
    assert (-terms.loss >= log_w.mean(1) - 1e-5).all()           # log mean w >= mean log w (Jensen)
    one = seeded(lambda: IWAELoss(1)(model, x))
    torch.testing.assert_close(-one.loss, seeded(lambda: iwae_log_weights(model, x, 1))[:, 0])  # k = 1: log w


def test_iwae_loss_trains_through_fit(model, x):
    before = [p.detach().clone() for p in model.parameters()]
    history = fit(model, x, epochs=1, batch_size=4, loss_fn=IWAELoss(3), progress=False, seed=0)
    assert all(math.isfinite(v) for v in history["train_neg_elbo"])
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_iwae_loss_rejects_beta_and_bad_k(model, x):
    with pytest.raises(ValueError, match="beta"):
        IWAELoss(2)(model, x, beta=0.5)
    with pytest.raises(ValueError, match="k"):
        IWAELoss(0)


def test_losses_have_names_for_fits_run_record():
    assert [f.__name__ for f in (KLWarmup(10), FreeBits(0.25), IWAELoss(5))] == \
        ["kl_warmup_10", "free_bits_0.25", "iwae_5"]


# --- zoo recipes trained with these losses (notebook 11's twelve models) ------------------------------------------

@pytest.mark.parametrize("name,kind,attr,value", [("kl_warmup_785", KLWarmup, "steps", 785),
                                                   ("free_bits_0.25", FreeBits, "lambda_", 0.25),
                                                   ("iwae_5", IWAELoss, "k", 5)])
def test_loss_named_builds_the_loss_fit_records(name, kind, attr, value):
    loss = loss_named(name)
    assert isinstance(loss, kind) and getattr(loss, attr) == value and loss.__name__ == name
    assert loss_named(name) is not loss                       # a fresh object each time: KLWarmup counts its steps
    assert loss_named("elbo") is losses.elbo


@pytest.mark.parametrize("name,match", [("iwae_05", "canonical"), ("iwae_0", "k"), ("free_bits_-1", "lambda_"),
                                        ("kl_warmup_x", "kl_warmup_x"), ("beta_vae_4", "unknown loss name")])
def test_loss_named_rejects_bad_names(name, match):
    with pytest.raises(ValueError, match=match):
        loss_named(name)


def test_collapse_recipes_name_losses_that_exist():
    recipes = {n: r for n, r in zoo.RECIPES.items() if n.startswith("collapse_")}
    assert len(recipes) == 12 and {r.seed for r in recipes.values()} == {0, 1, 2}
    for name, recipe in recipes.items():
        assert loss_named(recipe.loss).__name__ == recipe.loss
    warmup = loss_named(zoo.RECIPES["collapse_warmup_s0"].loss)
    steps = zoo.RECIPES["collapse_warmup_s0"].epochs * math.ceil(zoo.RECIPES["collapse_warmup_s0"].n_train / 128)
    assert warmup.steps == steps // 2                          # the ramp covers the first half of training


def test_zoo_refuses_a_model_trained_with_another_loss():
    recipe = zoo.RECIPES["collapse_iwae_s1"]
    run = {"epochs": recipe.epochs, "n_train": recipe.n_train, "binarize": None, "seed": 1, "lr": recipe.lr,
           "batch_size": 128, "beta": 1.0, "model": "MLPVAE"}
    history = {"epoch": list(range(1, recipe.epochs + 1)), "run": dict(run, loss_fn="iwae_5")}
    assert not any("loss_fn" in p for p in zoo.training_problems(recipe, history))   # the recipe's own loss
    history["run"]["loss_fn"] = "elbo"
    assert any("loss_fn=elbo" in p and "iwae_5" in p for p in zoo.training_problems(recipe, history))


def test_zoo_trains_a_recipe_with_its_loss(tmp_path, monkeypatch):
    # zoo.train passes the recipe's loss to fit: a tiny recipe, trained for real (smoke mode: 2 epochs, 2,000 images)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setitem(zoo.RECIPES, "tiny_iwae", zoo.Recipe("MLPVAE", {"latent_dim": 2, "hidden": [8]}, epochs=1,
                                                           loss="iwae_2"))
    seen = []
    real_fit = zoo.fit

    def spy(*args, **kwargs):
        seen.append(kwargs["loss_fn"])
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(zoo, "fit", spy)
    _, history = zoo.train("tiny_iwae", folder=tmp_path, progress=False)
    assert [type(f) for f in seen] == [IWAELoss] and seen[0].k == 2
    assert history["run"]["loss_fn"] == "iwae_2"
    assert zoo.load("tiny_iwae", folder=tmp_path, progress=False)[1]["run"]["loss_fn"] == "iwae_2"   # accepted
