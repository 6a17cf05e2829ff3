"""`python -m bench` writes a file only when asked, and every section names its commit."""

from __future__ import annotations

import pytest

from bench.__main__ import main, parser, stamped
from bench.environment import Environment


def test_nothing_is_written_unless_asked():
    # given the command line with no option, with --write and with --output
    plain, written = parser().parse_args([]), parser().parse_args(["--write"])
    # then only --write names docs/benchmarks.md
    assert not plain.write and plain.output is None
    assert written.write


def test_a_quick_run_is_never_written_to_the_document(capsys):
    # when a smoke run is asked to write the document
    with pytest.raises(SystemExit) as exit:
        main(["--quick", "--write"])
    # then it is refused before anything runs
    assert exit.value.code == 2
    assert "not written" in capsys.readouterr().err


def test_each_section_says_which_commit_it_measured():
    environment = Environment(
        date="2026-12-04 21:00 UTC",
        cpus=2,
        cpu_model="x",
        memory="1 GiB",
        kernel="Linux",
        python="CPython 3.11",
        postgres="15",
        redis="7",
        commit="abc1234",
    )
    section = stamped("## (a) Fan-out\n\nFigures.\n", environment)
    assert section.startswith(
        "## (a) Fan-out\n\nMeasured at commit abc1234 on 2026-12-04 21:00 UTC.\n"
    )
    assert section.endswith("Figures.\n")
