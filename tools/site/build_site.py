"""The course as a static website, built from the committed notebooks without executing them (`make site`).

    python tools/site/build_site.py                # teacher's site in site/: solutions behind "Show solution"
    python tools/site/build_site.py --student      # student's site: solutions and hidden tests stripped
    python tools/site/build_site.py -o DIR         # another output folder

Sphinx + myst-nb + sphinx-book-theme do the rendering (configuration: tools/site/conf.py); warnings are errors.
The notebooks are first copied into a throw-away source folder and prepared there (the committed files are never
touched):
- every widget output becomes the static picture it showed when the notebook was saved (an image widget's PNG, an
  Output widget's figures), plus one line naming the controls' values; progress bars are dropped. The widget state
  itself is removed, so no widget JavaScript (and no CDN) is needed;
- teacher's site: each exercise solution is collapsed behind a "Show solution" toggle;
- student's site: the same stripping as `make student` (tools/make_student.py, i.e. nbgrader's generate_assignment:
  solutions replaced by stubs, hidden tests removed), keeping the outputs of every cell that is not an exercise.
A landing page (from the README: what the course is, the chapter table, how to run it, for teachers, data and
licences) and a page for the package vae_helpers (its modules and public API, from the docstrings) are generated
beside them. MathJax ships inside the build (from the django-static-mathjax package on PyPI): no CDN anywhere.
"""
import argparse
import base64
import html
import importlib
import inspect
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tools"))

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PACKAGE_PAGE = "vae_helpers_api"
SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n?(.*?)^[ \t]*### END SOLUTION[ \t]*\n?", re.S | re.M)
MATHJAX_FILES = ["tex-chtml-full.js", "output/chtml/fonts/woff-v2"]  # the TeX input and CHTML output, all in one


def notebook_paths(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


# --- widgets: their saved state -> static outputs -------------------------------------------------------------------
CONTROLS = ("Slider", "ToggleButtons", "Dropdown", "RadioButtons", "Checkbox", "Select")  # what set the picture


def _control_value(state: dict):
    if "_options_labels" in state and isinstance(state.get("index"), int):
        return state["_options_labels"][state["index"]]
    return state.get("value")


def widget_outputs(model_id: str, states: dict) -> tuple[list, list]:
    """The outputs a widget showed (images, Output widgets' outputs) and its controls' `description = value` labels,
    found by walking the saved widget state from `model_id` down its children. Progress bars give nothing."""
    entry = states.get(model_id)
    if entry is None:
        return [], []
    name, state = entry.get("model_name", ""), entry.get("state", {})
    children = [c.replace("IPY_MODEL_", "") for c in state.get("children", [])]
    if any(states.get(c, {}).get("model_name", "").endswith("ProgressModel") for c in children):
        return [], []  # a tqdm bar: transient, and its saved text is stale
    if name == "ImageModel":
        buffers = [b for b in entry.get("buffers", []) if b.get("path") == ["value"]]
        if not buffers:
            return [], []
        data = buffers[0]["data"]
        if buffers[0].get("encoding") != "base64":
            data = base64.b64encode(data.encode("latin-1")).decode()
        mime = f"image/{state.get('format', 'png')}"
        return [nbformat.v4.new_output("display_data", data={mime: data})], []
    if name == "OutputModel":
        outputs, labels = [], []
        for out in state.get("outputs", []):
            sub = out.get("data", {}).get(WIDGET_VIEW)
            if sub:
                more, more_labels = widget_outputs(sub["model_id"], states)
                outputs += more
                labels += more_labels
            else:
                outputs.append(nbformat.from_dict(out))
        return outputs, labels
    outputs, labels = [], []
    for child in children:
        more, more_labels = widget_outputs(child, states)
        outputs += more
        labels += more_labels
    value = _control_value(state)
    if state.get("description") and value is not None and any(kind in name for kind in CONTROLS):
        labels.append(f"{state['description']} = {value}")
    return outputs, labels


def static_widgets(nb) -> None:
    """Replace every widget output by what it showed (see widget_outputs) and drop the widget state."""
    states = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        new = []
        for out in cell.outputs:
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                new.append(out)
                continue
            outputs, labels = widget_outputs(view["model_id"], states)
            if labels:
                note = ("An interactive widget in JupyterLab; below, the picture it showed with "
                        + ", ".join(str(label) for label in labels) + ".")
                new.append(nbformat.v4.new_output("display_data", data={
                    "text/html": f'<p class="vae-widget-note">{html.escape(note)}</p>', "text/plain": note}))
            new += outputs
        cell.outputs = new


# --- maths: as Jupyter reads it ------------------------------------------------------------------------------------
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)((?:[^$\n]|\n(?![ \t]*\n))+?)(?<!\\)\$(?!\$)")  # no blank line inside


def join_math_lines(markdown: str) -> str:
    """Inline maths ($...$) written across a line break, on one line. Jupyter takes the maths out before it parses
    the markdown, so a formula whose second line starts with `+ ` or `- ` renders there; a CommonMark parser (MyST,
    GitHub) would first read that line as a list item and break the formula apart. Code fences and $$ blocks are
    left as they are."""
    parts = re.split(r"(^```.*?^```[ \t]*$)", markdown, flags=re.S | re.M)
    for i in range(0, len(parts), 2):
        pieces = parts[i].split("$$")
        for j in range(0, len(pieces), 2):  # outside $$ ... $$
            pieces[j] = INLINE_MATH.sub(lambda m: "$" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "$", pieces[j])
        parts[i] = "$$".join(pieces)
    return "".join(parts)


# --- exercises: collapsed on the teacher's site, stripped on the student's -------------------------------------------
def is_solution(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def is_exercise(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade"))


def collapse_solutions(nb) -> int:
    """Teacher's site: each solution behind a "Show solution" toggle, without nbgrader's BEGIN/END SOLUTION markers.
    A code solution (input and output) becomes a collapsed myst-nb cell; a written answer (markdown) a collapsed
    dropdown. Returns how many were collapsed."""
    count = 0
    for cell in nb.cells:
        if not is_solution(cell):
            continue
        count += 1
        if cell.cell_type == "code":
            cell.source = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", cell.source, flags=re.M).rstrip()
            tags = [t for t in cell.metadata.get("tags", []) if t not in ("hide-input", "hide-output")]
            cell.metadata["tags"] = [*tags, "hide-cell"]
            cell.metadata["mystnb"] = {"code_prompt_show": "Show solution", "code_prompt_hide": "Hide solution"}
        else:
            match = SOLUTION.search(cell.source)
            answer = (match.group(1) if match else cell.source).strip()
            before = cell.source[:match.start()].strip() if match else ""
            after = cell.source[match.end():].strip() if match else ""
            cell.source = "\n\n".join(part for part in (
                before, f"::::{{dropdown}} Show solution\n\n{answer}\n::::", after) if part)
    return count


def student_notebooks(masters: list[Path], out_dir: Path) -> list[Path]:
    """Student copies made exactly as `make student` makes them (tools/make_student.py: nbgrader's
    generate_assignment), then given back the committed outputs of every cell that is not part of an exercise
    (generate_assignment clears all outputs; the site should still show the figures). Cells are matched by id."""
    from make_student import make_student_copies

    written = make_student_copies(masters, out_dir)
    for master_path, path in zip(masters, written):
        master = nbformat.read(master_path, as_version=4)
        student = nbformat.read(path, as_version=4)
        if [c.get("id") for c in master.cells] != [c.get("id") for c in student.cells]:
            raise RuntimeError(f"{path.name}: nbgrader changed the cells (ids differ); cannot restore the outputs")
        for m, s in zip(master.cells, student.cells):
            if s.cell_type == "code" and not is_exercise(m):
                s.outputs = m.outputs
                s.execution_count = m.execution_count
        student.metadata["widgets"] = master.metadata.get("widgets", {})
        nbformat.write(student, path)
    return written


# --- the landing page and the package page ---------------------------------------------------------------------------
def readme_sections(text: str) -> tuple[str, str, dict]:
    """The README's title, its introduction (before the first `## `) and its `## ` sections by heading."""
    title, _, rest = text.partition("\n")
    parts = re.split(r"^## +(.+)$", rest, flags=re.M)
    return title.lstrip("# ").strip(), parts[0].strip(), {h.strip(): body.strip() for h, body in zip(parts[1::2], parts[2::2])}


def slug(heading: str) -> str:
    """The anchor myst_heading_anchors gives a heading (GitHub's rule)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def site_links(markdown: str, anchors: set[str]) -> str:
    """README links made to work on the site: notebooks/NN_x.ipynb -> the chapter page, #anchor kept where that
    section is on the page, web links kept; a link to any other repository file becomes its plain text."""
    def fix(match):
        text, target = match.group(1), match.group(2)
        if re.match(r"https?://", target):
            return match.group(0)
        if target.startswith("notebooks/") and target.endswith(".ipynb"):
            return f"[{text}]({target.removeprefix('notebooks/')})"
        if target.startswith("#") and target[1:] in anchors:
            return match.group(0)
        return text
    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", fix, markdown)


def landing_page(readme: str, chapters: list[Path], student: bool) -> str:
    title, intro, sections = readme_sections(readme)
    wanted = ["The notebooks", "Quick start"] + ([] if student else ["For teachers"]) + ["Data", "Licences and citation"]
    present = [h for h in wanted if h in sections]
    anchors = {slug(h) for h in present} | {slug(m) for h in present for m in re.findall(r"^### +(.+)$", sections[h], re.M)}
    edition = ("**Student edition**: the exercises are here without their solutions." if student else
               "**Teacher's edition**: each exercise's solution is folded away behind a *Show solution* button.")
    names = {"The notebooks": "The chapters", "Quick start": "How to run it"}
    body = [f"# {title}", site_links(intro, anchors), edition,
            "The chapters below are the committed notebooks with the outputs of a full run, read here without running "
            f"anything; the package they import is described on [its own page]({PACKAGE_PAGE}.md)."]
    for heading in present:
        # keep each README heading (its anchor is what the README's own links point to), under a site-side name
        shown = names.get(heading, heading)
        body.append(f"({slug(heading)})=\n## {shown}" if shown != heading else f"## {heading}")
        body.append(site_links(sections[heading], anchors))
    toc = "\n".join(p.stem for p in chapters)
    body.append(f"```{{toctree}}\n:hidden:\n:caption: Chapters\n\n{toc}\n```")
    body.append(f"```{{toctree}}\n:hidden:\n:caption: The package\n\n{PACKAGE_PAGE}\n```")
    return "\n\n".join(body) + "\n"


def public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(module).items() if not n.startswith("_")
                 and (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__]
    return list(names)


def package_page(readme: str) -> str:
    """The package page: the README's module table, then each module's public functions and classes with their
    signatures and docstrings (shown as written, in text blocks: no docstring can break the build)."""
    import vae_helpers

    _, _, sections = readme_sections(readme)
    table = sections.get("The package", "")
    lines = ["# The package `vae_helpers`", site_links(table, set()), "## API"]
    modules = sorted(m.name for m in __import__("pkgutil").iter_modules(vae_helpers.__path__) if not m.name.startswith("_"))
    for name in modules:
        module = importlib.import_module(f"vae_helpers.{name}")
        lines.append(f"### `vae_helpers.{name}`")
        doc = inspect.getdoc(module)
        if doc:
            lines.append(f"````text\n{doc}\n````")
        for attr in public_names(module):
            obj = getattr(module, attr, None)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            try:
                signature = str(inspect.signature(obj))
            except (TypeError, ValueError):
                signature = "(...)"
            kind = "class " if inspect.isclass(obj) else ""
            lines.append(f"#### `{kind}{attr}`\n\n````text\n{kind}{attr}{signature}\n\n{inspect.getdoc(obj) or ''}\n````")
    return "\n\n".join(lines) + "\n"


# --- the build -------------------------------------------------------------------------------------------------------
def mathjax_dir() -> Path:
    try:
        import mathjax  # the django-static-mathjax package (MathJax 3 itself; it needs no Django)
    except ImportError as error:
        raise ImportError('the site needs MathJax from the docs extra: pip install -e ".[docs]"') from error
    return Path(mathjax.__file__).parent / "static" / "mathjax"


def prepare(source: Path, student: bool, root: Path = ROOT) -> list[Path]:
    """Write the site's source folder: prepared notebooks, the landing page, the package page and MathJax."""
    masters = notebook_paths(root)
    if not masters:
        raise FileNotFoundError(f"no notebooks/NN_*.ipynb under {root}")
    chapters = student_notebooks(masters, source) if student else [Path(shutil.copy(nb, source / nb.name)) for nb in masters]
    for path in chapters:
        nb = nbformat.read(path, as_version=4)
        static_widgets(nb)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = join_math_lines(cell.source)
        if not student:
            collapse_solutions(nb)
        nbformat.write(nb, path)
    readme = (root / "README.md").read_text(encoding="utf-8")
    (source / "index.md").write_text(landing_page(readme, chapters, student), encoding="utf-8")
    (source / f"{PACKAGE_PAGE}.md").write_text(package_page(readme), encoding="utf-8")
    static = source / "_static" / "mathjax"
    mathjax = mathjax_dir()
    for rel in MATHJAX_FILES:
        src, dst = mathjax / "es5" / rel, static / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy(src, dst)
    shutil.copy(mathjax / "LICENSE", static / "LICENSE")
    shutil.copy(HERE / "custom.css", source / "_static" / "custom.css")
    return chapters


def build(out: Path, student: bool = False, quiet: bool = True, root: Path = ROOT) -> Path:
    """Build the site of the course in `root` (its README.md and notebooks/) into `out` (emptied first), with
    warnings as errors; returns `out`."""
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="vae-site-") as tmp:
        source = Path(tmp, "source")
        source.mkdir()
        prepare(source, student, root)
        html_dir = Path(tmp, "html")  # built here, then moved: myst-nb writes jupyter_execute/ beside its output
        command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-E", "-c", str(HERE),
                   "-d", str(Path(tmp, "doctrees")), *(["-q"] if quiet else []),
                   str(source), str(html_dir)]
        result = subprocess.run(command, cwd=tmp)
        if result.returncode:
            raise SystemExit(f"the site build failed (warnings are errors); see the messages above. Command: "
                             f"{' '.join(command)}")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(html_dir, out)
    (out / ".nojekyll").touch()  # GitHub Pages: serve _static/ and _images/ as they are
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", action="store_true", help="build the student's site (no solutions)")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "site", help="output folder (default: site/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Sphinx's progress")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = build(args.out, student=args.student, quiet=not args.verbose)
    edition = "student's" if args.student else "teacher's"
    print(f"{edition} site built in {time.perf_counter() - start:.1f} s: {out}/index.html "
          f"(serve it with: python -m http.server -d {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
