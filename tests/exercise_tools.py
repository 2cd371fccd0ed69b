"""Reading the exercises of a master notebook, shared by tests/test_student.py and tests/test_grading.py.

The format (README, "For maintainers"): a code exercise is a solution cell `exN` (nbgrader `solution: true`) and
its test cell `exN_test` (`grade: true`, locked, with points); a written answer is a markdown cell with `grade: true`
and `solution: true` (manually graded, grade_id such as `exN_written` or `exN_why`) and has no test cell.
"""
import ast
import json
import re

HARVEST_MARK = "ANSWER_VALUES_JSON:"


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_written_answer(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.cell_type == "markdown" and bool(meta.get("solution")) and bool(meta.get("grade"))


def code_exercises(nb) -> dict:
    """{grade_id: (solution cell, test cell)} for the code exercises, in notebook order.

    A code solution cell `exN` without its `exN_test`, or a grade cell that is neither a test of a code solution nor
    a written answer, fails with the ids.
    """
    solutions = {nbgrader_meta(c)["grade_id"]: c for c in nb.cells
                 if nbgrader_meta(c).get("solution") and c.cell_type == "code"}
    tests = {nbgrader_meta(c)["grade_id"]: c for c in nb.cells
             if nbgrader_meta(c).get("grade") and not is_written_answer(c)}
    missing = [f"{g}_test" for g in solutions if f"{g}_test" not in tests]
    orphans = [g for g in tests if not (g.endswith("_test") and g[: -len("_test")] in solutions)]
    assert not missing and not orphans, (
        f"each code solution cell exN needs a test cell exN_test: no test cell for {missing}, no solution for "
        f"{orphans}")
    return {g: (cell, tests[f"{g}_test"]) for g, cell in solutions.items()}


def written_answers(nb) -> dict:
    """{grade_id: cell} of the manually graded markdown answer cells."""
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if is_written_answer(c)}


def split_hidden(source: str) -> tuple[str, str]:
    """(visible part, hidden part) of a test cell's source: the hidden part is between the HIDDEN TESTS markers."""
    visible, hidden, inside = [], [], False
    for line in source.splitlines():  # lenient on purpose ("TEST", spaces): a misspelt marker nbgrader ignores
        if re.search(r"BEGIN\s+HIDDEN\s+TEST", line, re.IGNORECASE):
            inside = True
        elif re.search(r"END\s+HIDDEN\s+TEST", line, re.IGNORECASE):
            inside = False
        elif inside:
            hidden.append(line)
        else:
            visible.append(line)
    return "\n".join(visible), "\n".join(hidden)


def assigned_names(source: str) -> list[str]:
    """Names a cell binds at top level (assignments, for targets, def/class, with-as, imports), in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []

    def targets(node):
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                targets(element)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                targets(target)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)):
            targets(node.target)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.With):
            for item in node.items:
                if item.optional_vars is not None:
                    targets(item.optional_vars)
    return list(dict.fromkeys(names))


def loaded_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(re.findall(r"[A-Za-z_]\w*", source))
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def answer_names(solution_source: str, test_source: str) -> list[str]:
    """The answer variables of an exercise: names its solution binds that its (master's full) test cell reads."""
    used = loaded_names(test_source)
    return [name for name in assigned_names(solution_source) if name in used]


def trains(solution_source: str) -> bool:
    """Whether the solution runs its own training (fit / train_epoch): its values depend on the student's run."""
    return bool(re.search(r"\b(fit|train_epoch)\s*\(", solution_source))


def harvest_source(names: list[str]) -> str:
    """A cell that prints HARVEST_MARK and a JSON {name: value} of the pasteable answer variables among names.

    Pasteable: numbers, and lists/tuples/tensors/arrays of numbers (at most 10,000), what a student could copy from
    a printed output. Models, functions, dicts such as a training history are left out.
    """
    return f'''import json as _json, numbers as _numbers
def _pasteable(_v):
    if isinstance(_v, bool):
        return {{"kind": "bool", "value": _v}}
    if isinstance(_v, _numbers.Integral):
        return {{"kind": "int", "value": int(_v)}}
    if isinstance(_v, _numbers.Real):
        return {{"kind": "float", "value": float(_v)}}
    if type(_v).__module__.startswith("torch") and hasattr(_v, "numel") and _v.numel() <= 10_000:
        return {{"kind": "tensor", "dtype": str(_v.dtype), "value": _v.detach().cpu().tolist()}}
    if type(_v).__module__.startswith("numpy") and hasattr(_v, "size") and _v.size <= 10_000:
        return {{"kind": "array", "dtype": str(_v.dtype), "value": _v.tolist()}}
    if isinstance(_v, (list, tuple)) and len(_v) <= 10_000 and all(
            isinstance(_x, _numbers.Real) and not isinstance(_x, bool) for _x in _v):
        return {{"kind": type(_v).__name__, "value": [float(_x) if not isinstance(_x, _numbers.Integral) else int(_x)
                                                   for _x in _v]}}
    return None
_values = {{_n: _pasteable(globals()[_n]) for _n in {names!r} if _n in globals()}}
print({HARVEST_MARK!r} + _json.dumps({{_n: _p for _n, _p in _values.items() if _p is not None}}))
del _json, _numbers, _pasteable, _values'''


def parse_harvest(text: str) -> dict:
    for line in text.splitlines():
        if line.startswith(HARVEST_MARK):
            return json.loads(line[len(HARVEST_MARK):])
    raise ValueError(f"no {HARVEST_MARK} line in the output: {text[-500:]!r}")


def pasted_source(values: dict) -> str:
    """A solution cell that only pastes the harvested values as literals (what a student copying numbers writes)."""
    lines = ["# pasted numbers, no computation"]
    for name, item in values.items():
        if item["kind"] == "tensor":
            lines.append(f"{name} = torch.tensor({item['value']!r}, dtype={item['dtype']})")
        elif item["kind"] == "array":
            lines.append(f"{name} = __import__('numpy').array({item['value']!r}, dtype={item['dtype']!r})")
        elif item["kind"] == "tuple":
            lines.append(f"{name} = {tuple(item['value'])!r}")
        else:
            lines.append(f"{name} = {item['value']!r}")
    return "\n".join(lines)


def numbers(item) -> list[float]:
    """Every number in a harvested value (nested lists flattened)."""
    value = item["value"] if isinstance(item, dict) else item
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list):
        return [x for element in value for x in numbers(element)]
    return []
