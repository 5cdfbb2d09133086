"""`python -m registry_tasks compare BASE NEW`: real summary files in tmp_path, judged through the CLI's main(), so
the exit code, the table, the regression lines and the one-line errors are what a CI job would see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry_tasks.__main__ import main


def row(method: str, name: str, **figures: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "method": method,
        "name": name,
        "requests": 1200,
        "failures": 0,
        "p50_ms": 3.0,
        "p95_ms": 9.0,
        "p99_ms": 15.0,
        "avg_ms": 4.1,
        "bytes": 1000,
        "mbps": 0.2,
        "rps": 80.0,
    }
    return values | figures  # fmt: skip


def summary(*entries: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """A summary file as gates.summary() writes it: the given rows, then the Aggregated row."""
    total = row("", "Aggregated", requests=sum(entry["requests"] for entry in entries) or 1)
    return {"duration_s": 60.0, "gates_passed": True, "gates": [], "entries": [*entries, total], **sections}


BASE_ROWS = (row("GET", "manifest-get"), row("GET", "blob-get", p95_ms=40.0, p99_ms=80.0, mbps=50.0))


def write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return str(path)


def compare(tmp_path: Path, base: Any, new: Any, *options: str) -> int:
    return main(["compare", write(tmp_path / "base.json", base), write(tmp_path / "new.json", new), *options])


def test_a_run_against_itself_has_no_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = summary(*BASE_ROWS, capacity={"entry": "manifest-get", "rate_per_s": 120.0})
    assert main(["compare", write(tmp_path / "run.json", document), str(tmp_path / "run.json")]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith(("GET ", "Aggregated"))]
    assert [line.split()[:2] for line in table] == [
        ["GET", "blob-get"],
        ["GET", "manifest-get"],
        ["Aggregated", "2400"],
    ]
    assert "REGRESSION" not in out
    assert "capacity (manifest-get): 120/s -> 120/s" in out
    assert out.splitlines()[-1] == "no regression beyond the limits"


def test_a_slower_p95_is_a_regression_naming_the_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slower = summary(row("GET", "manifest-get", p95_ms=31.0), BASE_ROWS[1])
    assert compare(tmp_path, summary(*BASE_ROWS), slower) == 1
    out = capsys.readouterr().out
    assert "regression: GET manifest-get p95 9 ms -> 31 ms (+244%, limit +10%)" in out
    marked = [line for line in out.splitlines() if line.endswith("REGRESSION")]
    assert [line.split()[:2] for line in marked] == [["GET", "manifest-get"]]
    assert out.splitlines()[-1] == "1 regression beyond the limits"


def test_a_lower_throughput_is_a_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slower = summary(BASE_ROWS[0], row("GET", "blob-get", p95_ms=40.0, p99_ms=80.0, mbps=45.0))
    assert compare(tmp_path, summary(*BASE_ROWS), slower) == 1
    assert "regression: GET blob-get MB/s 50 -> 45 (-10%, limit -5%)" in capsys.readouterr().out


def test_a_rise_of_the_fail_ratio_is_a_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failing = summary(row("GET", "manifest-get", failures=3), BASE_ROWS[1])  # 0.25%: +0.25 pp > +0.1 pp
    assert compare(tmp_path, summary(*BASE_ROWS), failing) == 1
    assert "regression: GET manifest-get fail ratio 0.00% -> 0.25% (+0.25pp, limit +0.1pp)" in capsys.readouterr().out
    within = summary(row("GET", "manifest-get", failures=1), BASE_ROWS[1])  # +0.083 pp
    assert compare(tmp_path, summary(*BASE_ROWS), within) == 0


def test_changes_within_the_limits_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = summary(
        row("GET", "manifest-get", p50_ms=6.0, p95_ms=9.9, p99_ms=16.5),  # p50 +100% (not judged), +10% exactly
        row("GET", "blob-get", p95_ms=30.0, p99_ms=80.0, mbps=47.5),  # faster; MB/s -5% exactly
    )
    assert compare(tmp_path, summary(*BASE_ROWS), new) == 0
    out = capsys.readouterr().out
    assert "+100%" in out and "-5.0%" in out
    assert out.splitlines()[-1] == "no regression beyond the limits"


def test_a_latency_rise_of_at_most_1_ms_is_noise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = summary(row("GET", "manifest-get", p95_ms=0.5, p99_ms=1.0))
    assert compare(tmp_path, base, summary(row("GET", "manifest-get", p95_ms=1.5, p99_ms=2.0))) == 0  # +200%, +1 ms
    capsys.readouterr()
    assert compare(tmp_path, base, summary(row("GET", "manifest-get", p95_ms=1.6, p99_ms=2.0))) == 1
    assert "regression: GET manifest-get p95 0.5 ms -> 1.6 ms (+220%, limit +10%)" in capsys.readouterr().out


def test_an_entry_without_requests_in_new_is_a_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert compare(tmp_path, summary(*BASE_ROWS), summary(BASE_ROWS[0])) == 1
    out = capsys.readouterr().out
    assert "regression: GET blob-get no requests in NEW (1200 in BASE)" in out
    blob = next(line for line in out.splitlines() if line.startswith("GET blob-get"))
    assert blob.split()[2:4] == ["1200", "-"] and blob.endswith("REGRESSION")
    zero = summary(BASE_ROWS[0], row("GET", "blob-get", requests=0, failures=0))
    assert compare(tmp_path, summary(*BASE_ROWS), zero) == 1
    assert "regression: GET blob-get no requests in NEW (1200 in BASE)" in capsys.readouterr().out


def test_an_entry_only_in_new_is_shown_not_judged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = summary(*BASE_ROWS, row("HEAD", "blob-head", p95_ms=500.0))
    assert compare(tmp_path, summary(*BASE_ROWS), new) == 0
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if line.startswith("HEAD blob-head")).split()[2:4] == ["-", "1200"]
    assert [line for line in lines if line.split()[:1] in (["GET"], ["HEAD"], ["Aggregated"])][-1].startswith("Aggr")


def test_custom_limits_let_a_regression_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    worse = summary(row("GET", "manifest-get", p95_ms=18.0, failures=6), row("GET", "blob-get", mbps=40.0))
    assert compare(tmp_path, summary(*BASE_ROWS), worse) == 1
    capsys.readouterr()
    assert compare(tmp_path, summary(*BASE_ROWS), worse, "--max-regression", "p95=100%,mbps=20%", "--max-regression",
                   "fail=0.5%") == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines()[-1] == "no regression beyond the limits"
    assert compare(tmp_path, summary(*BASE_ROWS), summary(row("GET", "manifest-get", p50_ms=5.0), BASE_ROWS[1])) == 0
    assert compare(tmp_path, summary(*BASE_ROWS), summary(row("GET", "manifest-get", p50_ms=5.0), BASE_ROWS[1]),
                   "--max-regression", "p50=50%") == 1  # fmt: skip
    assert "regression: GET manifest-get p50 3 ms -> 5 ms (+67%, limit +50%)" in capsys.readouterr().out


def test_a_lower_capacity_is_a_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = summary(*BASE_ROWS, capacity={"entry": "manifest-get", "rate_per_s": 120.0})
    lower = summary(*BASE_ROWS, capacity={"entry": "manifest-get", "rate_per_s": 100.0})
    assert compare(tmp_path, base, lower) == 1
    out = capsys.readouterr().out
    assert "regression: capacity (manifest-get) 120/s -> 100/s (-17%, limit -5%)" in out
    assert out.splitlines()[-1] == "1 regression beyond the limits"
    assert compare(tmp_path, base, lower, "--max-regression", "capacity=20%") == 0
    unfound = summary(*BASE_ROWS, capacity={"entry": "manifest-get", "rate_per_s": None})
    assert compare(tmp_path, base, unfound) == 0  # only compared when both files hold a number
    assert "capacity (manifest-get): not compared, NEW found none" in capsys.readouterr().out


ENTRY = row("GET", "manifest-get")
BAD_FILES = {
    "not JSON": ("{not json", "not JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
    "a list": ([ENTRY], "not a summary file: the top level is not an object"),
    "no entries": ({"duration_s": 1.0}, 'not a summary file: no "entries" list'),
    "entry not an object": ({"entries": [ENTRY, "GET x"]}, "not a summary file: entries[1] is not an object"),
    "field missing": ({"entries": [{k: v for k, v in ENTRY.items() if k != "p95_ms"}]},
                      'not a summary file: entries[0] has no "p95_ms"'),
    "count not a number": ({"entries": [ENTRY | {"requests": "1200"}]},
                           'not a summary file: entries[0]: "requests" is not a count: "1200"'),
    "negative figure": ({"entries": [ENTRY | {"mbps": -1}]},
                        'not a summary file: entries[0]: "mbps" is not a non-negative number: -1'),
    "repeated entry": ({"entries": [ENTRY, ENTRY]}, "not a summary file: entries[1] repeats GET manifest-get"),
}  # fmt: skip


@pytest.mark.parametrize("which", ["base", "new"])
@pytest.mark.parametrize("case", BAD_FILES, ids=str)
def test_a_bad_file_exits_2_with_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, which: str
) -> None:
    document, message = BAD_FILES[case]
    files = {"base": summary(*BASE_ROWS), "new": summary(*BASE_ROWS)} | {which: document}
    assert compare(tmp_path, files["base"], files["new"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {tmp_path / f'{which}.json'}: {message}\n"
    assert captured.out == ""


def test_a_missing_or_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    present = write(tmp_path / "base.json", summary(*BASE_ROWS))
    assert main(["compare", present, str(tmp_path / "absent.json")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'absent.json'}: No such file or directory\n"
    assert main(["compare", str(tmp_path), present]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: Is a directory\n"
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    assert main(["compare", present, str(tmp_path / "binary.json")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'binary.json'}: not JSON (not UTF-8 text)\n"


@pytest.mark.parametrize(
    "value, message",
    [
        ("p90=5%", "unknown key 'p90' in 'p90=5%' (keys: p50, p95, p99, mbps, fail, capacity)"),
        ("p95=fast", "'p95=fast': 'fast' is not a number"),
        ("p95=10%,mbps=-5%", "'mbps=-5%': a limit cannot be negative"),
        ("p95", "'p95' is not KEY=N%"),
        ("fail=nan%", "'fail=nan%': 'nan%' is not a finite number"),
    ],
)
def test_a_bad_limit_exits_2_with_one_line_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    assert compare(tmp_path, summary(*BASE_ROWS), summary(*BASE_ROWS), "--max-regression", value) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: --max-regression: {message}\n"
    assert captured.out == ""


def test_the_usage_errors_of_argparse_exit_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", write(tmp_path / "base.json", summary(*BASE_ROWS))])
    assert exited.value.code == 2


def test_the_help_names_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--help"])
    assert exited.value.code == 0
    assert "p95=10%,p99=10%,mbps=5%,fail=0.1%,capacity=5%" in " ".join(capsys.readouterr().out.split())
