"""The package's structure: no import cycles, and no tensor created off the model's device (issues 22, 23)."""
import ast
from pathlib import Path

import pytest
import torch

import vae_helpers
from vae_helpers import MLPVAE, ConvVAE, elbo, pitfalls, set_seed
from vae_helpers.collapse import FreeBits, IWAELoss, KLWarmup, iwae_log_weights
from vae_helpers.conditional import ConditionalVAE, as_unconditional

PACKAGE = Path(vae_helpers.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def package_imports(path: Path) -> set[str]:
    """The vae_helpers modules that `path` imports, at any depth of the file (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.module or "").split(".")[0] == "vae_helpers":
                base = (node.module or "").removeprefix("vae_helpers").lstrip(".")
                if base:
                    found.add(base.split(".")[0])
                else:                                   # from . import a, b
                    found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "vae_helpers" and len(parts) > 1:
                    found.add(parts[1])
    return {name for name in found if (PACKAGE / f"{name}.py").exists()} - {path.stem}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's nodes found by depth-first search from each node (enough to say whether any)."""
    found = []

    def visit(node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                found.append(path + [nxt])
            elif nxt not in path and nxt > path[0]:     # report each cycle once, from its smallest node
                visit(nxt, path + [nxt])
    for start in sorted(graph):
        visit(start, [start])
    return found


def test_the_cycle_finder_finds_direct_and_longer_cycles():
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert package_imports(PACKAGE / "zoo.py") >= {"cachefiles", "checkpoints", "train", "data", "utils"}


def test_no_two_modules_of_the_package_import_each_other():
    graph = {path.stem: package_imports(path) for path in MODULES if path.stem != "__init__"}
    assert not cycles(graph), f"import cycles in vae_helpers: {cycles(graph)}"


# --- issue 22: every tensor created where the model may sit on a GPU passes device= ---------------------------

FACTORIES = {"randn", "rand", "randint", "randperm", "zeros", "ones", "full", "empty", "eye", "arange", "linspace",
             "logspace", "tensor", "as_tensor"}
# modules with no model: the toy problems of notebooks 02 and 03 compute in float64 on the CPU from plain numbers
NO_MODEL = {"toy.py": "notebook 02's exact toy model, float64 on the CPU",
            "gradients.py": "notebook 03's 1-D estimators, float64 on the CPU"}


def factory_calls_without_device(path: Path) -> list[str]:
    """`torch.<factory>(...)` calls without device= whose lines (or a comment line just above) carry no `# cpu: why`
    note."""
    source = path.read_text()
    lines = source.splitlines()
    bad = []
    for node in ast.walk(ast.parse(source, str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
                and node.func.attr in FACTORIES):
            continue
        if any(k.arg == "device" for k in node.keywords):
            continue
        span = lines[node.lineno - 1: node.end_lineno]              # the call's lines, and a comment line above
        above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
        if not any("# cpu:" in line for line in span) and not above.startswith("# cpu:"):
            bad.append(f"{path.name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return bad


def test_the_device_lint_finds_a_factory_without_device(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import torch\n"
                      "a = torch.randn(3, device=x.device)\n"
                      "b = torch.zeros(\n    2, 3)\n"
                      "# cpu: a seed\nc = torch.randint(5, ())\n"
                      "d = torch.arange(4)  # cpu: indices for a CPU generator\n"
                      "e = torch.eye(2)\n")
    assert factory_calls_without_device(sample) == ["sample.py:3: b = torch.zeros(", "sample.py:8: e = torch.eye(2)"]


@pytest.mark.parametrize("path", [p for p in MODULES if p.name not in NO_MODEL], ids=lambda p: p.name)
def test_every_tensor_the_package_creates_names_its_device(path):
    assert factory_calls_without_device(path) == [], (
        "pass device= (e.g. device=x.device or next(model.parameters()).device), or say why the CPU is meant with "
        "a '# cpu: why' comment")


def _on_meta(model):
    return model.to("meta")


META = torch.device("meta")   # tensors without data: a CPU tensor mixed in raises "not on the expected device"


@pytest.mark.parametrize("run", [
    lambda m, x: elbo(m, x, check_x=False).loss,
    lambda m, x: m(x)[0],
    lambda m, x: m.sample(3),
    lambda m, x: iwae_log_weights(m, x, 3, check_x=False),
    lambda m, x: IWAELoss(2)(m, x, check_x=False).loss,
    lambda m, x: FreeBits(0.5)(m, x, check_x=False).loss,
    lambda m, x: KLWarmup(10)(m, x, check_x=False).loss,
    *[lambda m, x, loss=loss: loss(m, x, 1.0, check_x=False).loss
      for loss in (pitfalls.decode_the_mean, pitfalls.torch_normal_sample, pitfalls.mean_over_pixels,
                   pitfalls.mean_over_latents)],
], ids=["elbo", "forward", "sample", "iwae_log_weights", "IWAELoss", "FreeBits", "KLWarmup", "decode_the_mean",
        "torch_normal_sample", "mean_over_pixels", "mean_over_latents"])
@pytest.mark.parametrize("make", [lambda: MLPVAE(latent_dim=3, hidden=(16,)), lambda: ConvVAE(latent_dim=3),
                                  lambda: MLPVAE(latent_dim=3, hidden=(16,), likelihood="gaussian")],
                         ids=["mlp", "conv", "gaussian"])
def test_package_functions_run_on_the_models_device(make, run):
    """On the meta device any tensor the function creates on the CPU and mixes in raises."""
    set_seed(0)
    model = _on_meta(make())
    out = run(model, torch.empty(4, 1, 28, 28, device=META))
    assert out.device == META


def test_conditional_helpers_run_on_the_models_device():
    set_seed(0)
    cvae = _on_meta(ConditionalVAE(latent_dim=3, hidden=(16,)))
    x = torch.empty(4, 1, 28, 28, device=META)
    y = torch.empty(4, 10, device=META)                               # one-hot rows: no value is read
    assert elbo(cvae, x, check_x=False, y=y).loss.device == META
    assert cvae.generate(torch.empty(4, 3, device=META), y).device == META
    plain = as_unconditional(cvae)                                   # was a CPU one-hot added to meta biases
    assert next(plain.parameters()).device == META
