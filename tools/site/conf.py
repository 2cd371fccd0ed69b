"""Sphinx configuration of the course site; tools/site/build_site.py (`make site`) passes it with `-c tools/site`.

The source folder is a prepared copy of the notebooks (see build_site.py), so nothing here points at the
repository's layout. Warnings are errors (the build runs with -W).
"""
from pathlib import Path

project = "Variational autoencoders in PyTorch"
author = "the course authors"
copyright = "the course authors. Text and figures: CC BY 4.0; code: MIT"

extensions = ["myst_nb", "sphinx_design"]       # sphinx_design: the {dropdown} that folds written answers
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# The notebooks are read with their committed outputs, never executed.
nb_execution_mode = "off"
nb_merge_streams = True
nb_ipywidgets_js = {}                     # widgets are shown as static pictures: no widget JavaScript (and no CDN)
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_dmath_double_inline = True          # $$...$$ inside a paragraph, as Jupyter renders it (notebook 11 has one)
myst_heading_anchors = 3

# MathJax 3 ships inside the build (build_site.py copies it from the django-static-mathjax package into _static/):
# maths renders with no network. Relative paths are relative to _static/.
mathjax_path = "mathjax/tex-chtml-full.js"

html_theme = "sphinx_book_theme"
html_title = "VAEs in PyTorch"
html_static_path = []                     # set in setup(): the prepared source folder's _static/
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_copy_source = True                   # the download button offers each chapter's .ipynb
html_last_updated_fmt = None
html_context = {"default_mode": "light"}  # an explicit mode: the theme logs a console error without one
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,
    "use_fullscreen_button": True,
    "show_toc_level": 2,
    "extra_footer": "Notebooks' text and figures: CC BY 4.0. Code (vae_helpers): MIT. "
                    "MNIST: CC BY-SA 3.0 (Yann LeCun, Corinna Cortes); Fashion-MNIST: MIT (Zalando Research).",
}


def setup(app):
    app.config.html_static_path.append(str(Path(app.srcdir, "_static")))
