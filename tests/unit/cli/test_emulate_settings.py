"""`--set VENDOR.FIELD=VALUE` parsing for `crmsync emulate`."""

from __future__ import annotations

import pytest
import typer

from crmsync.cli.emulate import parse_settings


def test_settings_are_grouped_by_vendor_and_values_may_contain_equals() -> None:
    parsed = parse_settings(["hubspot.private_app_token=pat=1", "salesforce.client_secret=s", "hubspot.portal_id=7"])
    assert parsed == {
        "hubspot": {"private_app_token": "pat=1", "portal_id": "7"},
        "salesforce": {"client_secret": "s"},
    }


@pytest.mark.parametrize("bad", ["hubspot", "hubspot.token", "zoho.token=x", ".token=x", "hubspot.=x"])
def test_malformed_settings_are_refused_with_the_expected_form(bad: str) -> None:
    with pytest.raises(typer.BadParameter, match=r"VENDOR\.FIELD=VALUE"):
        parse_settings([bad])
