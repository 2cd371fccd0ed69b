import json

import pytest

from vae_helpers import cachefiles


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = cachefiles.write_json(tmp_path / "a.json", {"v": 1})

    def half_then_ctrl_c(f):
        f.write(b'{"v": 2')
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        cachefiles._atomic(path, half_then_ctrl_c)
    assert cachefiles.read_json(path) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_read_json_names_the_file_and_never_raises_a_bare_json_error(tmp_path):
    with pytest.raises(cachefiles.BrokenEntry, match=r"m\.json: the file is missing"):
        cachefiles.read_json(tmp_path / "m.json")
    (tmp_path / "m.json").write_text('{"weights": {"fi')
    with pytest.raises(cachefiles.BrokenEntry, match=r"m\.json: the file is truncated or is not JSON"):
        cachefiles.read_json(tmp_path / "m.json")
    (tmp_path / "m.json").write_text("[1, 2]")
    with pytest.raises(cachefiles.BrokenEntry, match="not an object"):
        cachefiles.read_json(tmp_path / "m.json")


def test_an_entry_names_its_weights_and_their_sha256(tmp_path):
    meta = cachefiles.write_entry(tmp_path, "m", {"w": [1, 2, 3]}, {"note": "first"})
    weights = tmp_path / meta["weights"]["file"]
    assert weights.name == f"m-{meta['weights']['sha256'][:16]}.pt"
    assert cachefiles.sha256(weights) == meta["weights"]["sha256"]
    assert cachefiles.read_entry(tmp_path, "m") == (json.loads((tmp_path / "m.json").read_text()), weights,
                                                    weights.read_bytes())
    cachefiles.write_entry(tmp_path, "m", {"w": [4]}, {"note": "second"})     # replaces the old weights
    assert len(list(tmp_path.glob("m-*.pt"))) == 1 and cachefiles.read_entry(tmp_path, "m")[0]["note"] == "second"
    json_file = tmp_path / "m.json"
    json_file.write_text(json.dumps({"note": "old format"}))
    with pytest.raises(cachefiles.BrokenEntry, match="does not name its weights file"):
        cachefiles.read_entry(tmp_path, "m")
