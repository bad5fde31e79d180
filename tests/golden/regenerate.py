"""Rewrite the golden report files. Run it only when a change to the cost model or the report
format is deliberate, and review the diff: ``python3 tests/golden/regenerate.py``."""

from pathlib import Path

import nexus_ir as nx

HERE = Path(__file__).parent


def golden_report() -> nx.EnergyReport:
    """The report the golden files hold: the bundled small CNN, batch 1, on the H100 target."""
    return nx.compile("example:cnn", target="h100", bindings={"batch": 1})


def main() -> None:
    report = golden_report()
    (HERE / "small_cnn_h100.json").write_text(report.to_json() + "\n")
    (HERE / "small_cnn_h100.txt").write_text(str(report) + "\n")
    (HERE / "small_cnn_h100.csv").write_text(report.to_csv())
    from nexus_ir.app.render_text import report_renderables, to_text
    resnet = nx.compile("example:resnet50", target="h100")
    for width in (80, 200):
        text = to_text(report_renderables(resnet, 2, 10, width), width)
        (HERE / f"resnet50_h100_{width}.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
