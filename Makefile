# Two commands do all set-up: `make lab` (JupyterLab on notebooks/) and `make test` (unit tests + every notebook).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NBCONVERT := $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	--ExecutePreprocessor.timeout=1800 --ExecutePreprocessor.record_timing=False

.PHONY: lab test student course grade-all grade-all-full site student-site wheel notebooks explorer-cache benchmark clean

# (Re)install when .venv is missing or older than the dependency files. The docs extra builds the site (make site,
# tests/test_site.py).
$(STAMP): pyproject.toml environment.yml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,docs]"
	touch $@

# Extra options with LAB_ARGS, e.g. make lab LAB_ARGS="--no-browser --port 8890". Root (containers) needs --allow-root.
# jupyter-config/ (read before the venv's own config; your ~/.jupyter still wins) keeps nbgrader's menus and server
# extensions off and turns off the "get notified about official Jupyter news?" prompt.
LAB_ARGS ?=
ROOT_ARGS := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
LAB_CONFIG := JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter-config$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))"
lab: $(STAMP)
	$(LAB_CONFIG) $(BIN)/jupyter lab $(ROOT_ARGS) $(LAB_ARGS) notebooks/

# Unit tests, then every notebook executed by nbval in smoke mode (CI set: tiny data, few epochs).
test: $(STAMP)
	CI=true $(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider tests notebooks

# Teachers: student copies of every notebook (solutions replaced by stubs, by nbgrader) in student/, and a zip.
TEACH := $(BIN)/python -c "import nbgrader" 2>/dev/null || $(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[teach]"
student: $(STAMP)
	$(TEACH)
	$(BIN)/python tools/make_student.py

# Teachers: an nbgrader course directory, e.g. `make course COURSE=$HOME/vae-course`: nbgrader_config.py (course id,
# per-cell timeout, grading mode, a grading model cache inside the course) and the masters in source/vae_course/.
# Then, in that directory, nbgrader runs with the virtual environment on PATH and no other flag:
#   PATH="/path/to/repository/.venv/bin:$PATH" nbgrader generate_assignment vae_course
COURSE ?=
ifneq ($(filter course,$(MAKECMDGOALS)),)
ifeq ($(COURSE),)
$(error usage: make course COURSE=path/to/dir)
endif
endif
course: $(STAMP)
	$(TEACH)
	$(BIN)/python tools/course.py "$(COURSE)"

# Teachers: autograde every notebook for one student who hands in the master solutions, in a temporary course
# directory, and print the scores and times; fails unless every auto-graded point is given. grade-all uses smoke mode, the
# course default (260 s on an idle 2-core machine); grade-all-full the students' full setting (45 min: it
# trains every zoo model first). Measured figures: README, For teachers.
grade-all: $(STAMP)
	$(TEACH)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/grade_all.py --mode smoke

grade-all-full: $(STAMP)
	$(TEACH)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/grade_all.py --mode full

# Teachers: the course as a static website in site/ (git-ignored), built from the committed notebooks without running
# them; solutions folded behind "Show solution". `make site STUDENT=1` (or `make student-site`) builds the students'
# site instead: solutions and hidden tests stripped as `make student` strips them. Serve: python -m http.server -d site
site: $(STAMP)
	$(BIN)/python tools/site/build_site.py $(if $(filter 1 yes true,$(STUDENT)),--student)

student-site:
	$(MAKE) site STUDENT=1

# Teachers: the package as a wheel (build/vae_helpers-<version>-py3-none-any.whl, data included) for students who
# download single notebooks: `pip install vae_helpers-*.whl`.
wheel: $(STAMP)
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w build .

# Maintainers: re-run every notebook in full mode and keep its outputs (commit them afterwards).
notebooks: $(STAMP)
	for nb in notebooks/[0-9]*.ipynb; do env -u CI $(NBCONVERT) $$nb || exit 1; done
	$(BIN)/python tools/notebook_tools.py clean notebooks/[0-9]*.ipynb

# Teachers: train notebook 07's explorer models ahead of class (about 4 minutes; ~/.cache/vae_helpers/explorer).
explorer-cache: $(STAMP)
	$(BIN)/python -m vae_helpers.explorer build

benchmark: $(STAMP)
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/conv_speed.py
	$(BIN)/python benchmarks/loss_speed.py

clean:
	rm -rf $(VENV)
