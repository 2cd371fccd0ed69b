import pytest
import torch

from vae_helpers import ConvVAE, MLPVAE, checkpoints, set_seed


@pytest.mark.parametrize("make", [lambda: MLPVAE(latent_dim=3, hidden=(16, 8)), lambda: ConvVAE(latent_dim=5)])
def test_round_trip(tmp_path, make):
    set_seed(0)
    model = make().eval()
    path = checkpoints.save(model, tmp_path / "sub" / "m.pt")
    loaded = checkpoints.load(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(loaded.encode(x), model.encode(x), rtol=0, atol=0)


def test_loading_into_a_model_of_another_configuration_is_refused(tmp_path):
    path = checkpoints.save(MLPVAE(latent_dim=2), tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"saved from MLPVAE.*latent_dim': 2.*latent_dim': 20"):
        checkpoints.load(path, model=MLPVAE(latent_dim=20))
    assert checkpoints.load(path, model=MLPVAE(latent_dim=2)).config.latent_dim == 2


def test_weights_that_do_not_fit_the_configuration(tmp_path):
    model = MLPVAE(latent_dim=2)
    path = checkpoints.save(model, tmp_path / "m.pt")
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["latent_dim"] = 3  # tampered: weights are for 2
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="do not fit MLPVAE"):
        checkpoints.load(path)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_never_run(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoints.FORMAT, "payload": Evil()}, path)
    with pytest.raises(ValueError, match="not a readable vae_helpers checkpoint"):
        checkpoints.load(path)
    assert "pwned" not in capsys.readouterr().out


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        checkpoints.load(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a vae_helpers checkpoint"):
        checkpoints.load(tmp_path / "other.pt")


def test_save_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = checkpoints.save(MLPVAE(latent_dim=2), "~/m.pt")
    assert path == tmp_path / "m.pt" and path.is_file() and not (tmp_path / "~").exists()
    assert checkpoints.load("~/m.pt").config.latent_dim == 2


def test_save_to_a_folder_or_an_unwritable_path_names_it(tmp_path, monkeypatch):
    with pytest.raises(IsADirectoryError, match=rf"Cannot write {tmp_path}: it is a folder.*model\.pt"):
        checkpoints.save(MLPVAE(), tmp_path)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError, match=rf"Cannot write {tmp_path / 'file' / 'm.pt'}"):
        checkpoints.save(MLPVAE(), tmp_path / "file" / "m.pt")

    def refuse(*args, **kwargs):                 # root ignores chmod: refuse as a read-only folder would
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(checkpoints.cachefiles.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=rf"Cannot write {tmp_path / 'ro.pt'}: Permission denied"):
        checkpoints.save(MLPVAE(), tmp_path / "ro.pt")


def test_an_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = checkpoints.save(MLPVAE(latent_dim=2), tmp_path / "m.pt")
    real_save = torch.save

    def save_then_ctrl_c(obj, f):
        real_save(obj, f)
        f.truncate(1000)                         # half a file written, then Ctrl-C
        raise KeyboardInterrupt
    monkeypatch.setattr(checkpoints.cachefiles.torch, "save", save_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save(MLPVAE(latent_dim=3), path)
    monkeypatch.undo()
    assert checkpoints.load(path).config.latent_dim == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_save_records_what_the_weights_went_through(tmp_path, mnist_small):
    from vae_helpers import fit
    from vae_helpers.digests import weights_digest

    x, _ = mnist_small
    set_seed(0)
    model = MLPVAE(latent_dim=2, hidden=(16,))
    start = weights_digest(model)
    history = fit(model, x[:256], epochs=1, seed=0, progress=False,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5))
    ckpt = torch.load(checkpoints.save(model, tmp_path / "m.pt"), weights_only=True)
    run = ckpt["provenance"]["run"]
    assert run["start_weights"] == start != run["end_weights"] == ckpt["provenance"]["weights"]
    assert run["optimizer"]["class"] == "SGD" and run["optimizer"]["momentum"] == 0.5 and run["lr"] == 0.01
    assert run["data"]["train_x"] == history["run"]["data"]["train_x"] and run["epochs"] == 1
    assert checkpoints.load(tmp_path / "m.pt").provenance == run          # it travels with the weights
    with torch.no_grad():
        model.fc_mu.bias.add_(1.0)                                         # edited after fit: the record is void
    assert torch.load(checkpoints.save(model, tmp_path / "e.pt"), weights_only=True)["provenance"]["run"] is None
    with pytest.raises(ValueError, match=r"history does not describe this model's weights"):
        checkpoints.save(model, tmp_path / "h.pt", history=history)
    assert not (tmp_path / "h.pt").exists()


def test_a_float64_model_comes_back_float64(tmp_path):
    set_seed(0)
    model = MLPVAE(latent_dim=2, hidden=(16,)).double()
    loaded = checkpoints.load(checkpoints.save(model, tmp_path / "m.pt"))
    assert {p.dtype for p in loaded.parameters()} == {torch.float64}
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r"m.pt holds torch.float64 weights, the model given is.*float32"):
        checkpoints.load(tmp_path / "m.pt", model=MLPVAE(latent_dim=2, hidden=(16,)))


@pytest.mark.parametrize("drop, message", [("config", "it has no config"), ("state_dict", "it has no state_dict"),
                                           ("model", "it has no model")])
def test_a_checkpoint_without_its_fields_names_the_file(tmp_path, drop, message):
    path = checkpoints.save(MLPVAE(latent_dim=2), tmp_path / "m.pt")
    ckpt = torch.load(path, weights_only=True)
    del ckpt[drop]
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match=rf"{tmp_path / 'm.pt'} is not a complete vae_helpers checkpoint: {message}"):
        checkpoints.load(path)
