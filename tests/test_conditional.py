import copy

import pytest
import torch

from vae_helpers import MLPVAE, checkpoints, elbo, evaluate, fit, set_seed
from vae_helpers.collapse import IWAELoss, KLWarmup
from vae_helpers.conditional import ConditionalVAE, as_unconditional, style_directions


@pytest.fixture
def cvae():
    set_seed(0)
    return ConditionalVAE(latent_dim=4, hidden=(32,))


@pytest.fixture(scope="module")
def labelled():
    from vae_helpers import load_mnist
    x, y = load_mnist("train", binarize="round")
    return x[:600], y[:600]


def test_shapes_and_label_forms(cvae, x_batch):
    y = torch.arange(8) % 10
    decoded, mu, logvar = cvae(x_batch, y)
    assert decoded.shape == (8, 1, 28, 28) and mu.shape == logvar.shape == (8, 4)
    onehot = torch.nn.functional.one_hot(y, 10).float()
    torch.testing.assert_close(cvae.encode(x_batch, y), cvae.encode(x_batch, onehot))
    torch.testing.assert_close(cvae.generate(mu, 7), cvae.generate(mu, torch.full((8,), 7)))  # one label, broadcast
    assert cvae.sample(5, y=2, generator=torch.Generator().manual_seed(0)).shape == (5, 1, 28, 28)


def test_bad_labels_say_what_is_wrong(cvae, x_batch):
    with pytest.raises(ValueError, match="needs the labels"):
        cvae(x_batch)
    with pytest.raises(ValueError, match=r"class labels in 0\.\.9"):
        cvae.encode(x_batch, torch.full((8,), 10))
    with pytest.raises(ValueError, match="one-hot rows"):
        cvae.encode(x_batch, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="sample"):
        cvae.sample(2)


@pytest.mark.parametrize("label", [None, 3])
def test_a_fixed_label_is_an_unconditional_vae(cvae, x_batch, label):
    """All-zero or constant labels carry no information: the ELBO is an MLPVAE's, on the same noise."""
    y = torch.zeros(8, 10) if label is None else torch.full((8,), label)
    plain = as_unconditional(cvae, label)
    torch.manual_seed(1)
    conditional = elbo(cvae, x_batch, y=y)
    torch.manual_seed(1)
    unconditional = elbo(plain, x_batch)
    for a, b in zip(conditional, unconditional):
        torch.testing.assert_close(a, b)


def test_fit_passes_the_batch_labels(cvae, labelled):
    x, y = labelled
    seen = []

    def loss_fn(model, xb, beta, check_x, y=None):
        seen.append((xb.clone(), y.clone()))
        return elbo(model, xb, beta, check_x, y=y)

    history = fit(cvae, x, x[:100], epochs=1, batch_size=200, seed=0, progress=False, loss_fn=loss_fn,
                  train_y=y, test_y=y[:100])
    rows = {tuple(xi.flatten().nonzero().flatten().tolist()): int(yi) for xb, yb in seen for xi, yi in zip(xb, yb)}
    truth = {tuple(xi.flatten().nonzero().flatten().tolist()): int(yi) for xi, yi in zip(x, y)}
    assert len(seen) == 3 and rows == truth                  # every image met with its own label
    assert history["test_neg_elbo"][0] == pytest.approx(evaluate(cvae, x[:100], y=y[:100])["neg_elbo"], abs=3)


def test_fit_and_evaluate_check_the_labels(cvae, labelled):
    x, y = labelled
    with pytest.raises(ValueError, match=r"train_y must hold one label per image of train_x \(600 images\), got 10"):
        fit(cvae, x, epochs=1, train_y=y[:10], progress=False)
    with pytest.raises(ValueError, match=r"y must hold one label per image of x \(600 images\), got 5 labels"):
        evaluate(cvae, x, y=y[:5])


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("kwargs, message", [
    # issue 23 item 9: the missing labels are named, before any step
    (lambda x, y: dict(test_x=x[:100], train_y=y), r"test_y is missing: a ConditionalVAE reads the label of every "
                                                    r"image, so test_x needs its labels too"),
    (lambda x, y: dict(), r"train_y is missing"),
    (lambda x, y: dict(val_x=x[:50], train_y=y, val_y=None, patience=2), r"val_y is missing"),
    (lambda x, y: dict(train_y=torch.cat([y[:-1], torch.tensor([10])])),
     r"train_y\[599\] = 10: the model has n_classes=10, so labels lie in 0..9"),
    (lambda x, y: dict(test_x=x[:100], train_y=y, test_y=y[:100] - 1),
     r"test_y\[\d+\] = -1: the model has n_classes=10"),
    # item 10: a wrong length names the argument and both lengths; float labels are refused by name
    (lambda x, y: dict(train_y=y[:599]), r"train_y must hold one label per image of train_x \(600 images\), got 599"),
    (lambda x, y: dict(train_y=y.float()), r"train_y holds torch.float32 values: class labels are integers"),
    (lambda x, y: dict(train_y=y[:, None]), r"train_y must hold one integer label per image \(shape \(600,\)\) or one "
                                            r"row of 10 per image, got shape \(600, 1\)"),
    # item 21: a loss that cannot take labels
    (lambda x, y: dict(train_y=y, loss_fn=KLWarmup(10)), r"loss_fn='kl_warmup_10' takes no labels \(y=\), so it "
                                                        r"cannot train a ConditionalVAE"),
    (lambda x, y: dict(train_y=y, loss_fn=IWAELoss(2)), r"loss_fn='iwae_2' takes no labels"),
])
def test_labels_are_checked_before_any_step_and_named(cvae, labelled, kwargs, message):
    x, y = labelled
    before = weights(cvae)
    with pytest.raises(ValueError, match=message):
        fit(cvae, x, epochs=1, batch_size=100, progress=False, **kwargs(x, y))
    assert all(torch.equal(a, b) for a, b in zip(before, weights(cvae)))          # no step was taken


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8, torch.int16])
def test_integer_labels_of_any_dtype_train_as_int64(cvae, labelled, dtype):
    x, y = labelled
    reference = copy.deepcopy(cvae)
    fit(reference, x[:200], epochs=1, batch_size=100, seed=0, progress=False, train_y=y[:200])
    fit(cvae, x[:200], epochs=1, batch_size=100, seed=0, progress=False, train_y=y[:200].to(dtype))
    assert all(torch.equal(a, b) for a, b in zip(weights(reference), weights(cvae)))
    bools = (y[:200] % 2).bool()                                          # labels 0/1 as bool
    scores = []
    for labels in (bools, bools.long()):
        torch.manual_seed(0)                                              # the same noise for both
        scores.append(evaluate(cvae, x[:200], y=labels)["neg_elbo"])
    assert scores[0] == scores[1]


def test_an_unconditional_model_given_labels_names_them(labelled):
    x, y = labelled
    with pytest.raises(ValueError, match=r"train_y is given, but a MLPVAE takes no labels: drop train_y"):
        fit(MLPVAE(latent_dim=2, hidden=(16,)), x, epochs=1, train_y=y, progress=False)
    with pytest.raises(ValueError, match=r"y is given, but a MLPVAE takes no labels"):
        evaluate(MLPVAE(latent_dim=2, hidden=(16,)), x, y=y)


def test_checkpoint_round_trip(cvae, tmp_path, x_batch):
    checkpoints.save(cvae, tmp_path / "c.pt")
    again = checkpoints.load(tmp_path / "c.pt")
    assert isinstance(again, ConditionalVAE) and again.config == cvae.config
    torch.testing.assert_close(again.encode(x_batch, 1), cvae.eval().encode(x_batch, 1))


def test_style_directions_are_orthonormal_and_ordered(cvae, labelled):
    x, y = labelled
    mean, directions, stds = style_directions(cvae, x, y, k=3)
    assert mean.shape == (4,) and directions.shape == (3, 4)
    torch.testing.assert_close(directions @ directions.T, torch.eye(3), atol=1e-5, rtol=0)
    assert (stds[:-1] >= stds[1:]).all() and (stds > 0).all()


def test_zoo_trains_the_cvae_with_its_labels(tmp_path, monkeypatch):
    from vae_helpers import load_mnist, zoo
    monkeypatch.setenv("CI", "true")                                     # the smoke recipe: 2 epochs, 2,000 images
    model, history = zoo.load("cvae", folder=tmp_path, progress=False)
    x, y = load_mnist("train", binarize="round")
    xt, yt = load_mnist("test", binarize="round")
    set_seed(0)
    ref = ConditionalVAE(latent_dim=2, hidden=(400,))
    ref_history = fit(ref, x[:2_000], xt, epochs=2, seed=0, train_y=y[:2_000], test_y=yt, progress=False)
    for a, b in zip(model.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert history["test_neg_elbo"] == pytest.approx(ref_history["test_neg_elbo"])
    again, _ = zoo.load("cvae", folder=tmp_path, progress=False)
    assert isinstance(again, ConditionalVAE)


def test_conditional_helpers_name_impossible_arguments(cvae, labelled):   # issue 23, item 21
    x, y = labelled
    with pytest.raises(ValueError, match=r"k is the number of style directions, an integer from 1 to latent_dim = 4, "
                                         r"got -1"):
        style_directions(cvae, x, y, k=-1)
    with pytest.raises(TypeError, match=r"as_unconditional takes a ConditionalVAE, got a MLPVAE"):
        as_unconditional(MLPVAE(latent_dim=2, hidden=(16,)))
    from vae_helpers.digit_widget import draw_digits
    with pytest.raises(ValueError, match=r"digit must be one of the model's classes, 0 to 9, got 10"):
        draw_digits(cvae, x, y, digit=10)
