"""The KtR task-assignment blueprint (arXiv 2505.16979 §case study 2; spec §4): the Hungarian algorithm
as six agents.

Known from the paper and its reviews: six agents, the Hungarian algorithm as the algorithmic prior,
a "Cover Seeker" bottleneck fixed by decomposing it further (not by fine-tuning). The six agents'
exact inputs and outputs and the prompts are **[reconstructed]**; the Cover Seeker is split into
A (independent zeros) and B (König's line cover), as the spec reconstructs it.

    1. Row Reducer     (C)          → C with each row's minimum subtracted
    2. Column Reducer  (M)          → M with each column's minimum subtracted
    loop (at most n² rounds — our guard; past it the instance fails with `ProtocolGuardError`):
    3. Cover Seeker A  (M)          → a maximum set of independent zeros (a maximum matching on the zeros)
    4. Cover Seeker B  (M, zeros)   → a minimum line cover by König's construction: mark the rows with
                                      no assigned zero; mark the columns with a zero in a marked row;
                                      mark the rows whose assigned zero lies in a marked column; repeat
                                      until nothing changes; cover = unmarked rows + marked columns
       n lines: leave the loop
    5. Adjuster        (M, lines)   → δ = the smallest uncovered value; subtract δ from every
                                      uncovered cell and add it to every cell covered twice
    6. Assigner        (M, C)       → n independent zeros of M as the assignment, and its cost on the
                                      original matrix C

Rows (workers) and columns (jobs) are numbered from 0 inside the blueprint; the answer numbers them
from 1: ``{"assignment": [job of worker 1, …], "cost": C}``, the format the `assignment` benchmark
scores. The instance is ``{"cost": [[…], …]}`` (that benchmark's ``metadata["instance"]``).
Calls: 3k + 2 for k loop rounds (two reducers, Cover Seekers A and B every round, the Adjuster in all
rounds but the last, the Assigner), each up to 1 + `contract_retries` attempts.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationInfo, field_validator

from maslab.blueprint import Blueprint, Controller, ProtocolGuardError, WellPosedTask

RECONSTRUCTED = ("agent specifications (the Cover Seeker split into A and B)", "prompts", "loop guard n²")

Matrix = list[list[int]]


def _square(m: Matrix, what: str = "matrix") -> Matrix:
    n = len(m)
    if n == 0 or any(len(row) != n for row in m):
        raise ValueError(f"{what} must be square (n rows of n numbers)")
    return m


def _size(info: ValidationInfo) -> int | None:
    """n of the input this output answers (the controller validates with the input as context)."""
    i = (info.context or {}).get("input")
    m = getattr(i, "matrix", None)
    return len(m) if m is not None else None


class MatrixIn(BaseModel):
    matrix: Matrix

    @field_validator("matrix")
    @classmethod
    def _shape(cls, m: Matrix) -> Matrix:
        return _square(m)


class MatrixOut(BaseModel):
    matrix: Matrix

    @field_validator("matrix")
    @classmethod
    def _shape(cls, m: Matrix, info: ValidationInfo) -> Matrix:
        _square(m)
        n = _size(info)
        if n is not None and len(m) != n:
            raise ValueError(f"the matrix must stay {n}×{n}")
        return m


def _in_range(indices: list[int], n: int | None, what: str) -> list[int]:
    if n is not None and any(not 0 <= k < n for k in indices):
        raise ValueError(f"{what} are numbered 0 to {n - 1}")
    return indices


class Zeros(BaseModel):
    """Independent zeros as [row, column] pairs."""

    zeros: list[tuple[int, int]]

    @field_validator("zeros")
    @classmethod
    def _range(cls, zeros: list[tuple[int, int]], info: ValidationInfo) -> list[tuple[int, int]]:
        n = _size(info)
        _in_range([k for z in zeros for k in z], n, "rows and columns")
        return sorted(zeros)


class CoverIn(BaseModel):
    matrix: Matrix
    zeros: list[tuple[int, int]]


class Lines(BaseModel):
    """A line cover: the covered rows and the covered columns."""

    rows: list[int]
    cols: list[int]

    @field_validator("rows", "cols")
    @classmethod
    def _range(cls, lines: list[int], info: ValidationInfo) -> list[int]:
        return sorted(set(_in_range(lines, _size(info), "rows and columns")))


class AdjustIn(BaseModel):
    matrix: Matrix
    rows: list[int]
    cols: list[int]


class AssignIn(BaseModel):
    matrix: Matrix
    cost: Matrix


class Assignment(BaseModel):
    """assignment[w] = the column (job) of row (worker) w; cost = its total on the original matrix."""

    assignment: list[int]
    cost: int

    @field_validator("assignment")
    @classmethod
    def _permutation(cls, a: list[int], info: ValidationInfo) -> list[int]:
        n = _size(info)
        if n is not None and sorted(a) != list(range(n)):
            raise ValueError(f"the assignment must give each of the {n} rows a different column 0 to {n - 1}")
        return a


class CostInstance(BaseModel):
    cost: Matrix

    @field_validator("cost")
    @classmethod
    def _shape(cls, m: Matrix) -> Matrix:
        return _square(m, "cost")


class AssignmentAnswer(BaseModel):
    """The blueprint's answer: each worker's job numbered from 1, and the total cost."""

    assignment: list[int]
    cost: int


# ------------------------------------------------------------------------------ exact step functions


def row_reduce(i: MatrixIn) -> MatrixOut:
    return MatrixOut(matrix=[[v - min(row) for v in row] for row in i.matrix])


def column_reduce(i: MatrixIn) -> MatrixOut:
    mins = [min(col) for col in zip(*i.matrix, strict=True)]
    return MatrixOut(matrix=[[v - mins[c] for c, v in enumerate(row)] for row in i.matrix])


def _matching(m: Matrix) -> dict[int, int]:
    """A maximum matching on the zero cells (Kuhn's augmenting paths, rows in order): column → row."""
    n = len(m)
    owner: dict[int, int] = {}

    def augment(r: int, seen: set[int]) -> bool:
        for c in range(n):
            if m[r][c] == 0 and c not in seen:
                seen.add(c)
                if c not in owner or augment(owner[c], seen):
                    owner[c] = r
                    return True
        return False

    for r in range(n):
        augment(r, set())
    return owner


def independent_zeros(i: MatrixIn) -> Zeros:
    return Zeros(zeros=sorted((r, c) for c, r in _matching(i.matrix).items()))


def zeros_hold(i: MatrixIn, o: Zeros) -> bool:
    """R of Cover Seeker A: zero cells, no two in a row or column, as many as a maximum matching."""
    rows = [r for r, _ in o.zeros]
    cols = [c for _, c in o.zeros]
    return (all(i.matrix[r][c] == 0 for r, c in o.zeros) and len(set(rows)) == len(rows)
            and len(set(cols)) == len(cols) and len(o.zeros) == len(_matching(i.matrix)))


def konig_cover(i: CoverIn) -> Lines:
    n = len(i.matrix)
    row_zero = {r: c for r, c in i.zeros}
    col_zero = {c: r for r, c in i.zeros}
    marked_rows = {r for r in range(n) if r not in row_zero}
    marked_cols: set[int] = set()
    while True:
        cols = {c for r in marked_rows for c in range(n) if i.matrix[r][c] == 0} - marked_cols
        rows = {col_zero[c] for c in cols if c in col_zero} - marked_rows
        if not cols and not rows:
            break
        marked_cols |= cols
        marked_rows |= rows
    return Lines(rows=sorted(set(range(n)) - marked_rows), cols=sorted(marked_cols))


def adjust(i: AdjustIn) -> MatrixOut:
    n = len(i.matrix)
    rows, cols = set(i.rows), set(i.cols)
    uncovered = [i.matrix[r][c] for r in range(n) for c in range(n) if r not in rows and c not in cols]
    if not uncovered:
        return MatrixOut(matrix=[list(row) for row in i.matrix])
    delta = min(uncovered)
    return MatrixOut(matrix=[[v - delta if r not in rows and c not in cols else v + delta if r in rows and c in cols
                              else v for c, v in enumerate(row)] for r, row in enumerate(i.matrix)])


def assign(i: AssignIn) -> Assignment:
    owner = _matching(i.matrix)
    if len(owner) != len(i.matrix):
        raise ValueError("the matrix has no n independent zeros")
    columns = {r: c for c, r in owner.items()}
    a = [columns[r] for r in range(len(i.matrix))]
    return Assignment(assignment=a, cost=sum(i.cost[r][c] for r, c in enumerate(a)))


def assignment_holds(i: AssignIn, o: Assignment) -> bool:
    """R of the Assigner: a permutation on zero cells of M, with its cost on C stated correctly."""
    n = len(i.matrix)
    return (sorted(o.assignment) == list(range(n)) and all(i.matrix[r][c] == 0 for r, c in enumerate(o.assignment))
            and o.cost == sum(i.cost[r][c] for r, c in enumerate(o.assignment)))


def _same_lines(i: CoverIn, o: Lines) -> bool:
    return o == konig_cover(i)


_MATRIX = "The matrix is a list of rows; rows and columns are numbered from 0."

ROW_REDUCER = WellPosedTask(
    "row_reduce", MatrixIn, MatrixOut,
    f"{_MATRIX} Subtract from every number the smallest number of its row, and return the new matrix.",
    solve=row_reduce)
COLUMN_REDUCER = WellPosedTask(
    "column_reduce", MatrixIn, MatrixOut,
    f"{_MATRIX} Subtract from every number the smallest number of its column, and return the new matrix.",
    solve=column_reduce)
COVER_SEEKER_A = WellPosedTask(
    "independent_zeros", MatrixIn, Zeros,
    f"{_MATRIX} Find as many zero cells as possible such that no two of them share a row or a column (a "
    "maximum matching on the zeros). Return them as [row, column] pairs.",
    solve=independent_zeros, relation=zeros_hold)
COVER_SEEKER_B = WellPosedTask(
    "line_cover", CoverIn, Lines,
    f"{_MATRIX} `zeros` are independent zeros of the matrix (each assigned to its row). Cover every zero with "
    "as few row and column lines as possible by König's construction: mark every row without an assigned "
    "zero; mark every column that has a zero in a marked row; mark every row whose assigned zero lies in a "
    "marked column; repeat the last two steps until nothing changes. The cover is the rows that are NOT marked "
    "and the columns that ARE marked; return them.",
    solve=konig_cover, relation=_same_lines)
ADJUSTER = WellPosedTask(
    "adjust", AdjustIn, MatrixOut,
    f"{_MATRIX} `rows` and `cols` are the covered rows and columns. Find the smallest number in a cell covered "
    "by no line. Subtract it from every cell covered by no line, add it to every cell covered by two lines (a "
    "covered row and a covered column), leave the other cells as they are, and return the new matrix.",
    solve=adjust)
ASSIGNER = WellPosedTask(
    "assign", AssignIn, Assignment,
    f"{_MATRIX} Choose one zero of `matrix` in every row such that no two chosen zeros share a column. Return "
    "`assignment`, the column chosen for each row in row order, and `cost`, the sum of the numbers of the "
    "original `cost` matrix at the chosen cells.",
    solve=assign, relation=assignment_holds)


async def protocol(ctl: Controller, x: CostInstance) -> AssignmentAnswer:
    """1 → 2 → loop (3 → 4 → 5 while lines < n) → 6."""
    n = len(x.cost)
    m = (await ctl.call("row_reducer", MatrixIn(matrix=x.cost))).matrix
    m = (await ctl.call("column_reducer", MatrixIn(matrix=m))).matrix
    for _ in range(n * n):
        zeros = (await ctl.call("cover_seeker_a", MatrixIn(matrix=m))).zeros
        lines = await ctl.call("cover_seeker_b", CoverIn(matrix=m, zeros=zeros))
        if len(lines.rows) + len(lines.cols) >= n:
            break
        m = (await ctl.call("adjuster", AdjustIn(matrix=m, rows=lines.rows, cols=lines.cols))).matrix
    else:
        raise ProtocolGuardError(f"no cover with {n} lines after {n * n} rounds (the loop guard)")
    result = await ctl.call("assigner", AssignIn(matrix=m, cost=x.cost))
    return AssignmentAnswer(assignment=[c + 1 for c in result.assignment], cost=result.cost)


BLUEPRINT: Blueprint[CostInstance, AssignmentAnswer] = Blueprint(
    "ktr_assignment",
    {"row_reducer": ROW_REDUCER, "column_reducer": COLUMN_REDUCER, "cover_seeker_a": COVER_SEEKER_A,
     "cover_seeker_b": COVER_SEEKER_B, "adjuster": ADJUSTER, "assigner": ASSIGNER},
    protocol, reconstructed=RECONSTRUCTED,
    summary="n×n assignment by the Hungarian algorithm: reduce rows and columns, then cover, adjust, assign.")

_ROLE = "of a task-assignment solver that follows the Hungarian algorithm on an n×n cost matrix."
# Role prompts [reconstructed]: our wording; the paper publishes none.
PROMPTS = {
    "row_reducer": f"You are the Row Reducer {_ROLE}",
    "column_reducer": f"You are the Column Reducer {_ROLE}",
    "cover_seeker_a": f"You are Cover Seeker A {_ROLE}",
    "cover_seeker_b": f"You are Cover Seeker B {_ROLE}",
    "adjuster": f"You are the Adjuster {_ROLE}",
    "assigner": f"You are the Assigner {_ROLE}",
}

