#!/usr/bin/env python3
"""Runs the steps of a GitHub Actions workflow file here, as .ci/run's check that the example
workflow (Examples/ci/github-actions-certus-check.yml) works as written.

Every `run:` step is executed with bash in the repository root, in order, with the workflow's
top-level `env:`; the job stops at the first step that fails, as on GitHub. `uses:` steps that
need GitHub are stood in for: actions/checkout (this clone), actions/cache (nothing to do),
actions/upload-artifact (each listed path must exist), and a JUnit report action (each report
must parse as JUnit XML: <testsuite>/<testsuites> with <testcase> elements). A JSON report named
by the upload step must parse too. The reports are removed at the end.

Steps are read without a YAML library: one `run:` command per line, `with:` keys one per line or
a `|` block of paths. Usage: python3 scripts/run-workflow.py WORKFLOW.yml
"""
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET


def parse(path):
    env, steps = {}, []
    lines = open(path, encoding="utf-8").read().splitlines()
    i = 0
    in_env = False
    while i < len(lines):
        line = lines[i]
        if re.match(r"^env:\s*$", line):
            in_env = True
        elif in_env and re.match(r"^  ([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$", line):
            k, v = re.match(r"^  ([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$", line).groups()
            env[k] = v.strip().strip('"')
        elif line and not line.startswith(" "):
            in_env = False
        m = re.match(r"^(\s*)- (name|uses|run):\s*(.*)$", line)
        if m and len(m.group(1)) >= 6:
            indent = len(m.group(1))
            step = {m.group(2): m.group(3).strip()}
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                s = lines[i].strip()
                own = len(lines[i]) - len(lines[i].lstrip()) == indent + 2   # the step's own keys, not with:'s
                km = re.match(r"^(name|uses|run|if):\s*(.*)$", s) if own else None
                if km:
                    step[km.group(1)] = km.group(2).strip()
                elif s.startswith("path:") or s.startswith("report_paths:"):
                    key, value = s.split(":", 1)
                    value = value.strip()
                    if value == "|":
                        block = []
                        i += 1
                        base = len(lines[i]) - len(lines[i].lstrip())
                        while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) >= base:
                            block.append(lines[i].strip())
                            i += 1
                        step[key] = block
                        continue
                    step[key] = [value]
                i += 1
            steps.append(step)
            continue
        i += 1
    return env, steps


def check_junit(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in ("testsuite", "testsuites") or not suites:
        raise SystemExit(f"{path}: not JUnit XML (root <{root.tag}>)")
    cases = [c for s in suites for c in s.findall("testcase")]
    declared = sum(int(s.get("tests", "-1")) for s in suites)
    if not cases or declared != len(cases):
        raise SystemExit(f"{path}: {len(cases)} <testcase> elements, the suites declare {declared}")
    for c in cases:
        if not c.get("name") or not c.get("classname"):
            raise SystemExit(f"{path}: a <testcase> without name or classname")
    return len(cases)


def main():
    workflow = sys.argv[1]
    env, steps = parse(workflow)
    full_env = dict(os.environ, **env)
    reports = []
    print(f"workflow {workflow}: {len(steps)} steps, env {env}", flush=True)
    for step in steps:
        label = step.get("name") or step.get("uses") or step.get("run")
        if "run" in step:
            print(f"== {label}: {step['run']}", flush=True)
            r = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], env=full_env)
            if r.returncode != 0:
                raise SystemExit(f"step '{label}' failed with exit code {r.returncode}")
            continue
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout") or uses.startswith("actions/cache"):
            print(f"== {label}: (here: nothing to do)", flush=True)
        elif uses.startswith("actions/upload-artifact"):
            for p in step.get("path", []):
                if not os.path.exists(p):
                    raise SystemExit(f"step '{label}': {p} was not written")
                reports.append(p)
                if p.endswith(".json"):
                    json.load(open(p, encoding="utf-8"))
            print(f"== {label}: {', '.join(step.get('path', []))} written", flush=True)
        elif "junit" in uses:
            for p in step.get("report_paths", []):
                n = check_junit(p)
                print(f"== {label}: {p} parses as JUnit XML with {n} testcases", flush=True)
        else:
            raise SystemExit(f"step '{label}': no stand-in for {uses}")
    for p in reports:
        os.remove(p)


if __name__ == "__main__":
    main()
