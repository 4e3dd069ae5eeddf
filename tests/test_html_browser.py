"""The HTML report as a person sees it: headless Chromium opens it, clicks, and reads what is drawn.

Chromium comes from Debian's packages (``.ci/install-browser``, which ``.ci/run`` calls). In CI
(``CI`` set) a missing browser fails this test; elsewhere it is skipped, saying how to install it.
"""

import os

import pytest

from browser import Browser, find_chromium
from toys import TOY_BATT

MAROON, BLUE, RED = "rgb(141, 29, 44)", "rgb(0, 116, 217)", "rgb(255, 65, 54)"


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/install-browser installs it, and CI must run this test")
        pytest.skip("chromium is not installed (run: bash .ci/install-browser); CI runs this test")
    return path


def cells(browser, selector):
    """Background colour and whether it is marked as differing, for each cell of a drawn grid."""
    return browser.eval(
        f"Array.from(document.querySelectorAll({selector!r} + ' i')).map(c => "
        "[getComputedStyle(c).backgroundColor, getComputedStyle(c).outlineStyle !== 'none'])"
    )


def test_the_report_shows_counts_grids_and_filters_in_a_real_browser(toy_project, chromium):
    toy_project.makepyfile(toybatt=TOY_BATT)
    result = toy_project.runbatt("--batt", "all", "--batt-data", "tasks", "--batt-module", "toybatt.py",
                                 "-n", "0", "--batt-html", "report.html")
    result.assert_outcomes(passed=6, failed=2)
    browser = Browser(chromium)
    try:
        browser.open((toy_project.path / "report.html").as_uri())
        assert browser.eval("document.querySelector('[data-count=\"pass@2\"]').textContent") == "2/3"
        assert browser.eval("document.querySelector('[data-count=\"samples unsolved\"]').textContent") == "2"
        browser.click('tbody[data-id="none0003"] tr.row')
        demo = 'tbody[data-id="none0003"] [data-sample="demo[0]"]'
        # demo[0]: input [[1, 2]], expected [[9, 9]], the closest candidate (identity) [[1, 2]] differs in both cells
        figures = browser.eval(f"Array.from(document.querySelectorAll('{demo} figure')).map(f => f.textContent)")
        assert figures[:3] == ["input 1x2", "expected 1x2", "closest: identity 1x2, 2 cells differ"]
        grids = f"{demo} figure:nth-of-type"
        assert cells(browser, f"{grids}(1)") == [[BLUE, False], [RED, False]]
        assert cells(browser, f"{grids}(2)") == [[MAROON, False], [MAROON, False]]
        assert cells(browser, f"{grids}(3)") == [[BLUE, True], [RED, True]]
        # test[1]: its first attempt is right, so nothing is marked
        test1 = 'tbody[data-id="none0003"] [data-sample="test[1]"] figure:nth-of-type(3)'
        assert browser.eval(f"document.querySelector('{test1}').textContent") == "attempt 1: identity 1x1, equal"
        assert cells(browser, test1) == [[BLUE, False]]
        visible = "Array.from(document.querySelectorAll('#tasks tbody')).filter(b => b.offsetParent !== null).map(b => b.dataset.id)"
        assert browser.eval(visible) == ["flip0001", "none0003", "same0002"]
        browser.click("#hide-solved")
        assert browser.eval(visible) == ["none0003"]
        assert browser.eval("document.getElementById('shown').textContent") == "1 of 3 tasks shown"
    finally:
        browser.close()


def test_the_report_of_a_results_file_shows_the_same_grids_in_a_real_browser(toy_project, chromium):
    """``python -m pytest_batt html`` (a sharded run's one report): what a person sees of it."""
    from pytest_batt.__main__ import main

    toy_project.makepyfile(toybatt=TOY_BATT)
    toy_project.runbatt("--batt", "all", "--batt-data", "tasks", "--batt-module", "toybatt.py", "-n", "2",
                        "--batt-json", "r.json")
    assert main(["html", str(toy_project.path / "r.json"), "-o", str(toy_project.path / "r.html"),
                 "--batt-data", str(toy_project.path / "tasks")]) == 0
    browser = Browser(chromium)
    try:
        browser.open((toy_project.path / "r.html").as_uri())
        assert browser.eval("document.querySelector('[data-count=\"pass@2\"]').textContent") == "2/3"
        browser.click('tbody[data-id="none0003"] tr.row')
        demo = 'tbody[data-id="none0003"] [data-sample="demo[0]"]'
        figures = browser.eval(f"Array.from(document.querySelectorAll('{demo} figure')).map(f => f.textContent)")
        assert figures == ["input 1x2", "expected 1x2"]  # its closest candidates are not in a results file
        assert cells(browser, f"{demo} figure:nth-of-type(2)") == [[MAROON, False], [MAROON, False]]
        test1 = 'tbody[data-id="none0003"] [data-sample="test[1]"] figure:nth-of-type(3)'
        assert browser.eval(f"document.querySelector('{test1}').textContent") == "attempt 1: identity 1x1, equal"
        assert cells(browser, test1) == [[BLUE, False]]
    finally:
        browser.close()


HOSTILE_BATT = r'''
def batt(task_id, S, I, C, log_path):
    if task_id == "none0003":
        raise ValueError("a message with <!-- and then <script> and </script> \x1b]0;PWNED\x07 in it")
    return [(1, 0, "evil <!--<script>\x1b[2J", I)], []
'''


def test_a_message_that_opens_a_comment_and_a_script_leaves_the_page_working(toy_project, chromium):
    """``<!--`` then ``<script`` inside the embedded data would put the HTML parser in its
    "double-escaped" state, where the page's own script never runs: the data holds neither."""
    toy_project.makepyfile(hostile=HOSTILE_BATT)
    toy_project.runbatt("--batt", "all", "--batt-data", "tasks", "--batt-module", "hostile.py", "-n", "0",
                        "--batt-html", "report.html")
    browser = Browser(chromium)
    try:
        browser.open((toy_project.path / "report.html").as_uri())
        assert browser.eval("document.querySelectorAll('#tasks tbody').length") == 3
        browser.click('tbody[data-id="none0003"] tr.row')  # the page's script draws the row: it ran
        texts = browser.eval("Array.from(document.querySelectorAll('tbody[data-id=\"none0003\"] pre')).map(p => p.textContent)")
        assert texts and texts[0].startswith(
            "solve call raised ValueError: a message with <!-- and then <script> and </script> \\x1b]0;PWNED\\x07 in it")
        browser.click('tbody[data-id="same0002"] tr.row')
        caption = "tbody[data-id=\"same0002\"] [data-sample=\"test[0]\"] figure:nth-of-type(3) figcaption"
        assert browser.eval(f"document.querySelector('{caption}').textContent") == \
            "attempt 1: evil <!--<script>\\x1b[2J 1x2, equal"
        browser.click("#hide-solved")
        assert browser.eval("document.getElementById('shown').textContent") == "2 of 3 tasks shown"
    finally:
        browser.close()


def test_a_profiled_run_shows_each_samples_peak_memory_and_top_functions_in_a_real_browser(toy_project, chromium):
    toy_project.makepyfile(toybatt=TOY_BATT)
    result = toy_project.runbatt("--batt", "flip0001", "--batt-data", "tasks", "--batt-module", "toybatt.py",
                                 "-n", "0", "--batt-html", "report.html", "--batt-profile", "prof")
    result.assert_outcomes(passed=3)
    browser = Browser(chromium)
    try:
        browser.open((toy_project.path / "report.html").as_uri())
        peak = browser.eval("document.querySelector('tbody[data-id=\"flip0001\"] tr.row td:nth-child(8)').textContent")
        assert float(peak) > 5
        browser.click('tbody[data-id="flip0001"] tr.row')
        sample = 'tbody[data-id="flip0001"] [data-sample="test[0]"]'
        assert " peak " in browser.eval(f"document.querySelector('{sample} div').textContent")
        rows = browser.eval(f"Array.from(document.querySelectorAll('{sample} table.prof tr')).map(r => r.cells[0].textContent)")
        assert rows[0].startswith("where the batt's time went") and "flip" in rows[1:] and "batt" in rows[1:]
    finally:
        browser.close()
