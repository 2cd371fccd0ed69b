"""Plausible wrong answers to notebook 04's exercises; each must fail its test cell (tests/test_student.py)."""

WRONG = {
    # nats per pixel: forgot to convert nats to bits (divide by log 2)
    "ex1": '''bits_per_pixel = history["test_neg_elbo"][-1] / 784''',
    # the subtractions the wrong way round: the 20-D model minus the 2-D model
    "ex2": '''epochs = min(EPOCHS, 5)
set_seed(0)
model_2d = MLPVAE(latent_dim=2).to(device)
history_2d = fit(model_2d, x_train, x_test, epochs=epochs, seed=0, progress=False)
recon_cost = history["test_recon"][epochs - 1] - history_2d["test_recon"][-1]
kl_saving = history_2d["test_kl"][-1] - history["test_kl"][epochs - 1]''',
    # forgot binarize="dynamic": trains on the grey levels themselves
    "ex3": '''epochs = min(EPOCHS, 5)
grey_train = load_mnist("train")[0][:N_TRAIN]
x_test_dynamic = load_mnist("test", binarize="sample", seed=0)[0]
set_seed(0)
model_dynamic = MLPVAE().to(device)
history_dynamic = fit(model_dynamic, grey_train, x_test_dynamic, epochs=epochs, seed=0, progress=False)
dynamic_gap = history_dynamic["test_neg_elbo"][-1] - history["test_neg_elbo"][epochs - 1]''',
}
