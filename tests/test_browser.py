"""The browser harness itself: Chromium starts, and axe-core fails a page it should fail."""

from __future__ import annotations

import pytest
from tests.browser import axe_violations, chromium

pytestmark = pytest.mark.slow


def page_with(style: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
        f'<p style="{style}">Lead time 3d 4h</p></main></body></html>'
    )


def test_axe_fails_text_below_aa_contrast_and_passes_text_above() -> None:
    with chromium() as browser:
        page = browser.new_page()
        # #888 on white is 3.54:1, under the 4.5:1 AA asks of normal text; #595959 is 7:1
        page.set_content(page_with("color: #888; background: #fff"))
        assert [v["id"] for v in axe_violations(page)] == ["color-contrast"]
        page.set_content(page_with("color: #595959; background: #fff"))
        assert axe_violations(page) == []
