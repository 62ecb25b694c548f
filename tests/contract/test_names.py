"""One Unity Catalog name rule for infra, streams and dashboards."""

from __future__ import annotations

import pytest

from sensorlake.contract.names import UcNameError, check_uc_name, is_uc_name


@pytest.mark.parametrize("good", ["sensor_data_catalog", "_x", "A1_b", "a" * 255])
def test_plain_identifiers_pass(good: str) -> None:
    assert check_uc_name("catalog", good) == good and is_uc_name(good)


@pytest.mark.parametrize(
    "bad", ["sensor-data", "1catalog", "", "a.b", "a b", "a" * 256, "é", "abc\n"]
)
def test_what_needs_quoting_is_refused_with_one_line(bad: str) -> None:
    with pytest.raises(UcNameError) as err:
        check_uc_name("schema", bad)
    text = str(err.value)
    assert text.startswith(f"schema {bad!r} is not a valid Unity Catalog name: use letters")
    assert "\n" not in text and isinstance(err.value, ValueError)
