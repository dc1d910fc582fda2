"""The demo (the README's first command) runs the page's examples and agrees with NumPy."""

import subprocess
import sys

from tecomp.tools import demo


def test_demo_rows_agree_with_the_reference(capsys):
    assert demo.main(["--size", "40"]) == 0
    out = capsys.readouterr().out
    assert "compile():" in out
    rows = [line for line in out.splitlines() if " ok " in line]
    assert len(rows) == 10 and "MISMATCH" not in out


def test_python_dash_m_tecomp_demo():
    run = subprocess.run([sys.executable, "-m", "tecomp", "demo", "--size", "20",
                          "--precision", "float"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "bank of 4 filters" in run.stdout
    usage = subprocess.run([sys.executable, "-m", "tecomp"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stdout
