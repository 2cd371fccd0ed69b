"""The course site (`make site`) as a reader sees it: built from the committed notebooks, opened in headless Chromium
with the network blocked.

Builds the teacher's and the student's site once (tools/site/build_site.py, warnings as errors), then checks:
no page asks for anything off this machine (no CDN); every chapter page loads with no console error and no failed
request, its maths rendered by the MathJax shipped in the build (no raw `$$` or `\\frac` left), at least as many
loaded images as its notebook has committed PNG outputs, and every solution folded behind "Show solution"; every
link between pages resolves (file and anchor); the student's site holds no solution and no hidden test. Screenshots
of chapters 04 and 07 go to test-artifacts/ (or $VAE_TEST_ARTIFACTS). The browser part is skipped, like
test_browser.py, without /usr/bin/chromium or playwright; the site needs the docs extra (`pip install -e ".[docs]"`).
"""
import functools
import html
import http.server
import re
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import nbformat
import pytest

from test_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, artifacts_dir

pytest.importorskip("myst_nb", reason='the site needs the docs extra: pip install -e ".[docs]"')
sys.path.insert(0, str(ROOT / "tools" / "site"))
import build_site  # noqa: E402

MASTERS = build_site.notebook_paths()
SCREENSHOTS = ("04", "07")
PACKAGE_PAGE = f"{build_site.PACKAGE_PAGE}.html"


@pytest.fixture(scope="module")
def teacher_site(tmp_path_factory) -> Path:
    return build_site.build(tmp_path_factory.mktemp("site") / "teacher")


@pytest.fixture(scope="module")
def student_site(tmp_path_factory) -> Path:
    return build_site.build(tmp_path_factory.mktemp("site") / "student", student=True)


def page_name(nb: Path) -> str:
    return nb.stem + ".html"


def png_outputs(nb, cells=None) -> int:
    """Committed PNG outputs of a notebook's code cells (widget pictures not counted)."""
    return sum("image/png" in out.get("data", {}) for cell in (cells or nb.cells) if cell.cell_type == "code"
               for out in cell.outputs)


def solution_lines(nb, code_only: bool = False) -> set[str]:
    """Lines of the master's solutions and hidden tests that appear nowhere else in it: none may reach a student.

    Elsewhere counts a teaching line with or without its trailing comment, and code quoted in markdown (`...`).
    code_only: only lines of code cells (markdown lines are re-flowed and rendered on the page).
    """
    hidden, elsewhere = set(), set()
    for cell in nb.cells:
        elsewhere |= {q.strip() for q in re.findall(r"`([^`\n]+)`", cell.source)}
        if code_only and cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        regions = [m.group(1) for m in build_site.SOLUTION.finditer(cell.source)] if meta.get("solution") else []
        if meta.get("grade"):
            regions += re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        lines = {line.strip() for region in regions for line in region.splitlines()}
        hidden |= {line for line in lines if len(line) >= 12 and not line.startswith("#")}
        rest = cell.source
        for region in regions:
            rest = rest.replace(region, "")
        for line in rest.splitlines():               # a teaching line, with and without its trailing comment
            elsewhere |= {line.strip(), re.sub(r"\s+#.*$", "", line).strip()}
    return hidden - elsewhere


class PageParser(HTMLParser):
    """Text (without <script>/<style>), links, element ids and src/href of the resources a page loads."""

    def __init__(self):
        super().__init__()
        self.text, self.links, self.ids, self.resources, self._skip = [], [], set(), [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("script", "img", "iframe", "source", "video", "audio", "embed") and attrs.get("src"):
            self.resources.append((tag, attrs["src"]))
        if tag == "link" and attrs.get("href"):
            self.resources.append((tag, attrs["href"]))
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


@functools.cache
def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


# --- the built files ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("edition", ["teacher_site", "student_site"])
def test_every_chapter_and_the_package_page_are_built(edition, request):
    site = request.getfixturevalue(edition)
    for nb in MASTERS:
        assert (site / page_name(nb)).is_file(), f"no page for {nb.name} in {site}"
    assert (site / "index.html").is_file() and (site / PACKAGE_PAGE).is_file()
    assert (site / "_static" / "mathjax" / "tex-chtml-full.js").is_file(), "MathJax is not shipped in the build"
    index = "".join(parse(site / "index.html").text)
    for nb in MASTERS:  # the chapter table, with the README's topics and minutes
        assert nb.stem in index or nb.name in index, f"the landing page does not list {nb.name}"
    assert "minutes" in index and "make lab" in index
    if edition == "teacher_site":  # the teachers' notes, with how to publish the site
        assert "http.server" in index and "make student" in index
    api = "".join(parse(site / PACKAGE_PAGE).text)
    for name in ("vae_helpers.losses", "load_mnist", "MLPVAE", "fit"):
        assert name in api, f"the package page does not describe {name}"


@pytest.mark.parametrize("edition", ["teacher_site", "student_site"])
def test_no_page_loads_anything_from_the_network(edition, request):
    site = request.getfixturevalue(edition)
    remote = [(page.name, tag, src) for page in pages(site) for tag, src in parse(page).resources
              if re.match(r"(https?:)?//", src)]
    assert not remote, f"pages load resources from the network (a CDN?): {remote[:5]}"
    css_remote = [(p.name, m) for p in site.rglob("*.css") for m in re.findall(r"@import\s+url\(['\"]?(?:https?:)?//[^)]*",
                                                                                    p.read_text(errors="replace"))]
    assert not css_remote, f"stylesheets import from the network: {css_remote[:5]}"


@pytest.mark.parametrize("edition", ["teacher_site", "student_site"])
def test_every_link_between_pages_resolves(edition, request):
    site = request.getfixturevalue(edition)
    broken = []
    for page in pages(site):
        for href in parse(page).links:
            if re.match(r"[a-z]+:", href) and not href.startswith("file:"):
                continue  # mailto:, https: (the README's own web links): not pages of the site
            target, anchor = urldefrag(href)
            path = (page.parent / unquote(target)).resolve() if target else page
            if path.is_dir():
                path = path / "index.html"
            if not path.is_file():
                broken.append(f"{page.name}: {href} (no such file)")
            elif anchor and path.suffix == ".html" and unquote(anchor) not in parse(path).ids:
                broken.append(f"{page.name}: {href} (no element with that id)")
    assert not broken, "broken links:\n" + "\n".join(broken[:20])
    for nb, following in zip(MASTERS, MASTERS[1:]):  # chapter navigation: next and previous, and the package page
        links = {urldefrag(h)[0] for h in parse(site / page_name(nb)).links}
        assert page_name(following) in links, f"{nb.name}'s page does not link to the next chapter"
        assert PACKAGE_PAGE in links, f"{nb.name}'s page does not link to the package page"
        assert page_name(nb) in {urldefrag(h)[0] for h in parse(site / page_name(following)).links}


def test_teacher_site_folds_every_solution(teacher_site):
    for nb_path in MASTERS:
        nb = nbformat.read(nb_path, as_version=4)
        solutions = sum(build_site.is_solution(c) for c in nb.cells)
        text = "".join(parse(teacher_site / page_name(nb_path)).text)
        assert text.count("Show solution") == solutions, f"{nb_path.name}: not every solution has its toggle"
        for line in sorted(solution_lines(nb, code_only=True))[:5]:
            assert line in html.unescape(text), f"{nb_path.name}: the teacher's page lacks the solution line {line!r}"


def test_student_site_holds_no_solution_and_no_hidden_test(student_site):
    for nb_path in MASTERS:
        nb = nbformat.read(nb_path, as_version=4)
        text = html.unescape("".join(parse(student_site / page_name(nb_path)).text))
        leaked = [line for line in solution_lines(nb) if line in text]
        assert not leaked, f"{nb_path.name}: the student's page shows solution or hidden-test lines: {leaked[:3]}"
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "Show solution"):
            assert marker not in text, f"{nb_path.name}: the student's page shows {marker!r}"
        code_solutions = sum(build_site.is_solution(c) and c.cell_type == "code" for c in nb.cells)
        assert text.count("YOUR CODE HERE") >= code_solutions, f"{nb_path.name}: an exercise stub is missing"
        figures = png_outputs(nb, [c for c in nb.cells if not build_site.is_exercise(c)])
        images = (student_site / page_name(nb_path)).read_text(encoding="utf-8").count("<img ")
        assert images >= figures, f"{nb_path.name}: {images} images on the student's page, {figures} figures outside exercises"


def test_widgets_become_pictures_not_state(teacher_site):
    for nb_path in MASTERS:
        raw = (teacher_site / page_name(nb_path)).read_text(encoding="utf-8")
        assert "application/vnd.jupyter.widget" not in raw, f"{nb_path.name}: raw widget state on the page"
    explorer = (teacher_site / "07_beta_and_latent_size.html").read_text(encoding="utf-8")
    assert "vae-widget-note" in explorer, "notebook 07's explorer left no picture on its page"


# --- in the browser ----------------------------------------------------------------------------------------------------
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(teacher_site):
    """The teacher's site over http://127.0.0.1 (as `python -m http.server -d site` serves it)."""
    handler = functools.partial(QuietHandler, directory=str(teacher_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("the browser test needs Debian's chromium: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (in the test extra)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


RAW_MATHS = """() => {
    const texts = [];
    const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT, {
        acceptNode: n => n.parentElement.closest('pre, code, script, style, mjx-container, .highlight, .output')
            ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
    while (walker.nextNode()) texts.push(walker.currentNode.nodeValue);
    return texts.join(' ');
}"""


def open_page(browser, url: str, blocked: list, problems: list):
    """A new page on `url` with every request that leaves this machine aborted (and recorded in `blocked`); console
    errors, page errors and failed requests recorded in `problems`. Returns the page once MathJax has typeset it."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000})

    def route(r):
        host = urlparse(r.request.url)
        if host.scheme in ("file", "data", "blob") or host.hostname in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    page.wait_for_function("() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)",
                           timeout=30_000)
    page.evaluate("() => window.MathJax ? window.MathJax.startup.promise : null")
    return page


def screenshot_at(page, selector: str, path: Path) -> bool:
    element = page.locator(selector).first
    if element.count() == 0:
        return False
    element.scroll_into_view_if_needed()
    page.evaluate("() => window.scrollBy(0, -120)")  # a little context above it
    page.screenshot(path=str(path))
    return True


@pytest.mark.parametrize("nb_path", MASTERS, ids=lambda p: p.name[:2])
def test_chapter_page_in_the_browser(nb_path, browser, served):
    nb = nbformat.read(nb_path, as_version=4)
    blocked, problems = [], []
    page = open_page(browser, served + page_name(nb_path), blocked, problems)
    try:
        has_maths = any(c.cell_type == "markdown" and "$" in c.source for c in nb.cells)
        if has_maths:
            assert page.locator("mjx-container").count() > 0, f"{nb_path.name}: MathJax rendered no maths"
        text = page.evaluate(RAW_MATHS)
        for raw in ("$$", "\\frac", "\\mathcal", "\\begin{"):
            assert raw not in text, f"{nb_path.name}: raw {raw!r} left in the text: maths not rendered"
        images = page.evaluate("""() => [...document.querySelectorAll('main img')]
                                         .filter(i => i.complete && i.naturalWidth > 0).length""")
        assert images >= png_outputs(nb), f"{nb_path.name}: {images} images loaded, the notebook has {png_outputs(nb)} PNGs"

        toggles = page.locator("details:has(> summary:has-text('Show solution'))")
        solutions = sum(build_site.is_solution(c) for c in nb.cells)
        assert toggles.count() == solutions
        if solutions:
            first = toggles.first
            body = first.locator(":scope > :not(summary)").first
            assert not body.is_visible(), f"{nb_path.name}: a solution is shown before its toggle is clicked"
            first.locator("summary").first.click()
            body.wait_for(state="visible", timeout=5_000)
            if nb_path.name[:2] in SCREENSHOTS:
                first.scroll_into_view_if_needed()
                page.screenshot(path=str(artifacts_dir() / f"site_{nb_path.name[:2]}_solution.png"))

        if nb_path.name[:2] in SCREENSHOTS:
            out = artifacts_dir()
            assert screenshot_at(page, "mjx-container[display='true']", out / f"site_{nb_path.name[:2]}_maths.png")
            assert screenshot_at(page, "main .cell_output img", out / f"site_{nb_path.name[:2]}_figure.png")
            screenshot_at(page, ".vae-widget-note", out / f"site_{nb_path.name[:2]}_widget.png")
        assert not blocked, f"{nb_path.name}: the page tried to reach the network: {blocked[:5]}"
        assert not problems, f"{nb_path.name}: " + "; ".join(problems[:5])
    finally:
        page.context.close()


def test_landing_and_package_pages_in_the_browser(browser, served):
    for name in ("index.html", PACKAGE_PAGE):
        blocked, problems = [], []
        page = open_page(browser, served + name, blocked, problems)
        try:
            assert page.locator("main h1").count() >= 1
            assert not blocked and not problems, f"{name}: {blocked[:3]} {problems[:3]}"
            if name == "index.html":
                page.screenshot(path=str(artifacts_dir() / "site_index.png"))
                chapters = page.locator("main table a[href$='.html']")
                assert chapters.count() >= len(MASTERS), "the chapter table does not link every chapter"
        finally:
            page.context.close()


# --- a written answer (markdown solution cell), on a one-notebook course ----------------------------------------------
def synthetic_course(root: Path) -> Path:
    """A course with one notebook holding a code exercise and a written answer, in nbgrader's format."""
    (root / "notebooks").mkdir(parents=True)
    (root / "README.md").write_text(
        "# A test course\n\nOne notebook.\n\n## The notebooks\n\n| # | notebook | topic | minutes |\n|---|---|---|---|\n"
        "| 01 | [`01_test.ipynb`](notebooks/01_test.ipynb) | a test | 0.1 |\n\n## Quick start\n\n`make lab`\n")

    def grader(**meta):
        return {"nbgrader": {"schema_version": 3, "locked": False, "task": False, "grade": False, "solution": False,
                             **meta}}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 01 · A test\n\nThe KL term $\\mathrm{KL}(q \\| p)$ and\n$$\\frac{a}{b}$$"),
        nbformat.v4.new_markdown_cell("## Exercises\n\n**Exercise 1.** Define `answer`."),
        nbformat.v4.new_code_cell("### BEGIN SOLUTION\nanswer = 6 * 7  # the secret solution line\n### END SOLUTION",
                                  metadata=grader(solution=True, grade_id="ex1")),
        nbformat.v4.new_code_cell("assert 'answer' in globals()\n### BEGIN HIDDEN TESTS\n"
                                  "assert answer == 42, 'the hidden check of the test course'\n### END HIDDEN TESTS",
                                  metadata=grader(grade=True, locked=True, points=1, grade_id="ex1_test")),
        nbformat.v4.new_markdown_cell("**Exercise 2.** Why?"),
        nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nBecause $x^2 \\geq 0$: the written model answer.\n"
                                      "### END SOLUTION", metadata=grader(solution=True, grade=True, points=1,
                                                                          grade_id="ex2_written")),
    ]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    nbformat.write(nb, root / "notebooks" / "01_test.ipynb")
    return root


def test_a_written_answer_is_folded_for_teachers_and_absent_for_students(tmp_path):
    root = synthetic_course(tmp_path / "course")
    teacher = build_site.build(tmp_path / "teacher", root=root)
    page = (teacher / "01_test.html").read_text(encoding="utf-8")
    folds = re.findall(r"<details[^>]*>\s*<summary[^>]*>(.*?)</summary>(.*?)</details>", page, re.S)
    shown = [re.sub(r"<[^>]+>", "", summary) for summary, _ in folds]
    assert sum("Show solution" in s for s in shown) == 2, f"two solutions should be folded, got {shown}"
    folded = " ".join(body for _, body in folds)
    assert "the secret solution line" in folded and "the written model answer" in folded
    assert "BEGIN SOLUTION" not in page and "END SOLUTION" not in page, "nbgrader's markers reached the page"

    # the student's site gets its notebooks from student_notebooks (the student_site fixture renders them)
    (tmp_path / "student").mkdir()
    [copy] = build_site.student_notebooks([root / "notebooks" / "01_test.ipynb"], tmp_path / "student")
    raw = copy.read_text(encoding="utf-8")
    for secret in ("the secret solution line", "the written model answer", "the hidden check"):
        assert secret not in raw, f"the student's copy shows {secret!r}"
    assert "YOUR ANSWER HERE" in raw and "YOUR CODE HERE" in raw


def test_inline_maths_across_a_line_break_is_joined():
    joined = build_site.join_math_lines("a $x\n+ y$ b\n\n$$\nu\n+ v\n$$\n```\n$c\nd$\n```\ncosts $5\n\nand $z$")
    assert joined == "a $x + y$ b\n\n$$\nu\n+ v\n$$\n```\n$c\nd$\n```\ncosts $5\n\nand $z$"
