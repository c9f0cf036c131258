"""junit.xml: one test case per gate, so CI lists each gate as passed, failed or errored."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from assistant.evaluate.results import RunResult


def render_junit(run: RunResult) -> str:
    """One testcase per gate; a failure names the gate and the measured value."""
    gates = run.gates
    name = f"eval.{run.suite.name}"
    missing = [g for g in gates if g.value is None or g.threshold is None]
    failures = [g for g in gates if not g.passed and g not in missing]
    counts = {"tests": str(len(gates)), "failures": str(len(failures)), "errors": str(len(missing))}
    root = ET.Element("testsuites", name=name, **counts)
    suite = ET.SubElement(root, "testsuite", name=name, **counts, time=str(run.run.seconds))
    for g in gates:
        case = ET.SubElement(suite, "testcase", classname=f"{name}.gates", name=g.gate, time="0")
        if g in missing:
            ET.SubElement(case, "error", message=g.message, type="MissingMetric").text = g.message
        elif not g.passed:
            ET.SubElement(case, "failure", message=g.message, type="GateFailed").text = g.message
        else:
            ET.SubElement(case, "system-out").text = g.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
