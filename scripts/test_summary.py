"""Adds up the JUnit reports of scripts/test and prints one closing line per layer and in all."""

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def junit_counts(path):
    if not path.exists():
        return None
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in total:
            total[key] += int(suite.get(key, 0))
    failed = total["failures"] + total["errors"]
    return total["tests"] - failed - total["skipped"], failed, total["skipped"]


def odoo_runner_counts(log_path):
    if not log_path or not Path(log_path).exists():
        return None
    text = Path(log_path).read_text(errors="replace")
    match = re.findall(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests", text)
    if not match:
        return None
    failed, errors, total = (int(x) for x in match[-1])
    return total - failed - errors, failed + errors, 0


def main():
    results = Path(sys.argv[1])
    runner_log = sys.argv[2] if len(sys.argv) > 2 else ""
    layers = {
        "layer 1 (core, real servers)": junit_counts(results / "layer1.xml"),
        "layer 2a (Odoo runner)": odoo_runner_counts(runner_log),
        "layer 2b (pytest-odoo)": junit_counts(results / "layer2.xml"),
        "layer 2c (update from the previous release)": junit_counts(results / "upgrade.xml"),
        "layer 2d (queue_job bridge, Odoo runner)": odoo_runner_counts(
            results / "odoo-queue-job.log"
        ),
    }
    passed = failed = skipped = 0
    print("\n=== Summary")
    lint = results / "lint.status"
    if lint.exists():
        print("lint: clean" if lint.read_text().strip() == "0" else "lint: FAILED (see above)")
    for name, counts in layers.items():
        if counts is None:
            why = (
                " (queue_job not installed)"
                if name.startswith("layer 2d") and (results / "queue-job.not-run").exists()
                else ""
            )
            print(f"{name}: not run{why}")
            continue
        print(f"{name}: {counts[0]} passed, {counts[1]} failed, {counts[2]} skipped")
        passed, failed, skipped = passed + counts[0], failed + counts[1], skipped + counts[2]
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
