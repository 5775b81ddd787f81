"""The architecture and runtime tables: wheel tags and glibc caps."""
from __future__ import annotations

import pytest

from lambda_ml_bench.build.platforms import (
    ARCHITECTURES,
    RUNTIMES,
    UnknownChoice,
    architecture,
    layer_name,
    manylinux_tags,
    runtime,
)


def test_al2023_runtimes_accept_up_to_glibc_2_34() -> None:
    tags = manylinux_tags(ARCHITECTURES["arm64"], RUNTIMES["3.13"])
    assert tags[0] == "manylinux_2_34_aarch64"
    assert "manylinux_2_28_aarch64" in tags and "manylinux_2_17_aarch64" in tags
    assert "manylinux2014_aarch64" in tags
    assert "manylinux_2_35_aarch64" not in tags
    assert all(t.endswith("_aarch64") for t in tags)


def test_python311_is_capped_at_amazon_linux_2_glibc() -> None:
    tags = manylinux_tags(ARCHITECTURES["x86_64"], RUNTIMES["3.11"])
    assert tags[0] == "manylinux_2_26_x86_64"
    assert "manylinux_2_27_x86_64" not in tags and "manylinux_2_28_x86_64" not in tags


def test_x86_64_keeps_the_legacy_aliases_and_aarch64_has_none_before_2014() -> None:
    x86 = manylinux_tags(ARCHITECTURES["x86_64"], RUNTIMES["3.12"])
    assert {"manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "manylinux_2_5_x86_64"} <= set(x86)
    arm = manylinux_tags(ARCHITECTURES["arm64"], RUNTIMES["3.12"])
    assert arm[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert len(set(x86)) == len(x86) and len(set(arm)) == len(arm)


@pytest.mark.parametrize(
    ("version", "glibc"), [("3.11", (2, 26)), ("3.12", (2, 34)), ("3.13", (2, 34)), ("3.14", (2, 34))]
)
def test_glibc_cap_per_runtime(version: str, glibc: tuple[int, int]) -> None:
    assert runtime(version).glibc == glibc
    assert runtime(version).name == f"python{version}"


def test_unknown_values_list_the_valid_ones() -> None:
    with pytest.raises(UnknownChoice, match=r"unknown ARCH 'amd64'; valid values: arm64, x86_64"):
        architecture("amd64")
    with pytest.raises(UnknownChoice, match=r"valid values: 3\.11, 3\.12, 3\.13, 3\.14"):
        runtime("3.10")


def test_names_spell_out_runtime_and_architecture() -> None:
    assert layer_name("sklearn", ARCHITECTURES["x86_64"], RUNTIMES["3.13"]) == "sklearn-py313-x86_64"
    assert layer_name("onnx", ARCHITECTURES["arm64"], RUNTIMES["3.13"]) == "onnx-py313-arm64"
    assert RUNTIMES["3.14"].abi == "cp314"
