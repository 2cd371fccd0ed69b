# nbgrader settings for the students' JupyterLab (make lab, binder/start, a hub's student image): nbgrader reads
# nbgrader_config.py from each JUPYTER_CONFIG_PATH folder. The Validate button runs the whole notebook in the
# student's own (full) mode, and nbgrader's default of 30 s per cell would stop the training cells there; notebook
# 09's slowest cell takes several minutes on a 2-core machine. (A course directory's own nbgrader_config.py, read
# later, sets the grader's values.)
c = get_config()  # noqa: F821
c.Execute.timeout = 1800
