#!/usr/bin/env python3
"""Checks the project's code tasks (data/code-tasks/train.jsonl) against their reference solutions.

Usage: check-code-tasks.py TASKS.jsonl SOLUTIONS.jsonl

Every task must be well formed (a prompt, language python, 3 or more tests or test cases, a unique
task_id, a function task's prompt names its entry point), its reference solution must pass every
test, and a stand-in that does nothing (a function returning None, an empty program) must fail
one: so no task is broken or passed by anything. Runs each program with python3 (no sandbox: these
are the project's own solutions). Prints one line per failure and exits 1 when there is any.
"""
import concurrent.futures
import json
import subprocess
import sys
import tempfile


def run_python(source, stdin=""):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    try:
        p = subprocess.run([sys.executable, "-I", "-S", f.name], input=stdin, capture_output=True, text=True, timeout=20)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired:
        return -1, ""


def lines(text):
    out = [line.rstrip() for line in text.split("\n")]
    while out and out[-1] == "":
        out.pop()
    return out


def passes(task, program):
    if "tests" in task:
        source = program + "\n" + task.get("test_setup", "") + "\n" + "\n".join(task["tests"]) + "\n"
        return run_python(source)[0] == 0
    for case in task["test_cases"]:
        code, out = run_python(program, case["input"])
        if code != 0 or lines(out) != lines(case["output"]):
            return False
    return True


def problems_of(task, solution):
    tid = task.get("task_id")
    if not isinstance(task.get("prompt"), str) or not task["prompt"]:
        yield f"{tid}: no prompt"
    if task.get("language") != "python":
        yield f"{tid}: language must be python"
    tests = task.get("tests", task.get("test_cases", []))
    if ("tests" in task) == ("test_cases" in task) or len(tests) < 3:
        yield f"{tid}: needs 3 or more tests or test_cases (and not both)"
        return
    if "tests" in task and task.get("entry_point", "") + "(" not in task["prompt"]:
        yield f"{tid}: the prompt does not name the entry point {task.get('entry_point')}("
    if not passes(task, solution):
        yield f"{tid}: the reference solution fails its tests"
    stand_in = f"def {task['entry_point']}(*args, **kwargs):\n    return None\n" if "tests" in task else ""
    if passes(task, stand_in):
        yield f"{tid}: a stand-in that does nothing passes every test"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tasks = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
    solutions = {}
    for line in open(sys.argv[2], encoding="utf-8"):
        if line.strip():
            row = json.loads(line)
            solutions[row["task_id"]] = row["solution"]
    failures = []
    ids = [t.get("task_id") for t in tasks]
    if len(set(ids)) != len(ids):
        failures.append("task_id values are not unique")
    for task in tasks:
        if task.get("task_id") not in solutions:
            failures.append(f"{task.get('task_id')}: no reference solution")
    checked = [t for t in tasks if t.get("task_id") in solutions]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for found in pool.map(lambda t: list(problems_of(t, solutions[t["task_id"]])), checked):
            failures.extend(found)
    for extra in sorted(set(solutions) - set(ids)):
        failures.append(f"{extra}: a solution without a task")
    for f in failures:
        print(f)
    n_tests = sum(1 for t in tasks if "tests" in t)
    print(f"{len(tasks)} tasks ({n_tests} with tests, {len(tasks) - n_tests} with test_cases): "
          f"{'all pass' if not failures else str(len(failures)) + ' problems'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
