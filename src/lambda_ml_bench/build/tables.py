"""Tables of a layer's manifest, for the terminal (rich) and for Markdown reports."""
from __future__ import annotations

from rich.table import Table

from lambda_ml_bench.files import MiB
from lambda_ml_bench.measure.markdown import table


def _mib(n: int) -> str:
    return f"{n / MiB:.1f}"


def step_rows(manifest: dict) -> list[list[str]]:
    limit = manifest["limits"]["unzipped_limit_bytes"]
    upload = manifest["limits"]["direct_upload_limit_bytes"]
    rows = []
    for step in manifest["steps"]:
        rows.append([
            step["step"], _mib(step["unzipped_bytes"]), f"{100 * step['unzipped_bytes'] / limit:.0f}%",
            _mib(step["zipped_bytes_estimate"]),
            "yes" if step["zipped_bytes_estimate"] <= upload else "no (S3)",
        ])
    z = manifest["zip"]
    rows.append(["final zip (deflate level 9)", _mib(z["unzipped_bytes"]),
                 f"{100 * z['unzipped_bytes'] / limit:.0f}%", _mib(z["zipped_bytes"]),
                 "yes" if z["fits_direct_upload"] else "no (S3)"])
    return rows


STEP_HEADERS = ["step", "unzipped MiB", "of 250 MB", "zipped MiB", "direct upload (50 MB)"]
PACKAGE_HEADERS = ["package", "version", "unzipped MiB", "share"]


def package_rows(manifest: dict) -> list[list[str]]:
    total = manifest["zip"]["unzipped_bytes"] or 1
    pkgs = sorted(manifest["packages"].items(), key=lambda kv: -kv[1]["unzipped_bytes"])
    return [[name, p["version"], _mib(p["unzipped_bytes"]), f"{100 * p['unzipped_bytes'] / total:.0f}%"]
            for name, p in pkgs]


def _rich(title: str, headers: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def steps_table(manifest: dict) -> Table:
    return _rich(f"{manifest['layer']}: size after each slimming step", STEP_HEADERS, step_rows(manifest))


def packages_table(manifest: dict) -> Table:
    return _rich(f"{manifest['layer']}: size per package", PACKAGE_HEADERS, package_rows(manifest))


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    return table(headers, rows)
