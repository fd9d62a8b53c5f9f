"""``python -m densefit``: the main job trains the notes' network on the bundled
digits to high held-out accuracy in a few seconds; bad MNIST paths fail with
the datasets module's message and a non-zero exit, without a traceback."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from densefit import __main__ as cli

ACCURACY = re.compile(r"^test accuracy: (\d\.\d{4}) \(loss (\d+\.\d{4})\) on (\d+) held-out "
                      r"samples; (\d+\.\d{4}) s per epoch, (\d+\.\d{2}) s in all$", re.M)


def _run(*args, timeout=120):
    env = dict(os.environ)
    env.pop("DENSEFIT_DATA", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "densefit", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=Path(__file__).parent)
    return proc, time.perf_counter() - start


def test_main_job_on_digits():
    proc, seconds = _run("--epochs", "60")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("densefit: digits (bundled 8x8), 1437 training / 360 test "
                                  "samples, network 64-25-15-10, 60 epochs of batch 32\n")
    match = ACCURACY.search(proc.stdout)
    assert match, proc.stdout
    accuracy, loss, n_test, _, train_seconds = match.groups()
    assert float(accuracy) >= 0.95  # about 0.99 with the default seed
    assert float(loss) < 0.2
    assert n_test == "360"
    assert proc.stdout.count("\nEpoch ") == 60 and "\nEpoch 60/60\n" in proc.stdout  # verbose=2
    # ~0.05 s and ~1 s on an idle machine: generous bounds that still catch training
    # at Python speed, without failing on a loaded 2-core machine
    assert float(train_seconds) < 10.0
    assert seconds < 60.0


def test_missing_mnist_directory_fails_cleanly(tmp_path):
    proc, _ = _run("--mnist", str(tmp_path / "nowhere"))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("python -m densefit: error: MNIST files not found: looked in ")
    assert str(tmp_path / "nowhere") in proc.stderr
    assert "train-images-idx3-ubyte.gz" in proc.stderr and "DENSEFIT_DATA" in proc.stderr
    assert proc.stdout == ""


def test_main_in_process(capsys):
    assert cli.main(["--epochs", "3", "--verbose", "0", "--batch-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "network 64-25-15-10, 3 epochs of batch 64" in out
    assert "Epoch" not in out  # verbose 0
    match = ACCURACY.search(out)
    assert match, out
    assert 0.0 <= float(match.group(1)) <= 1.0


def test_same_seed_same_result(capsys):
    results = []
    for seed in ("1", "1", "2"):
        assert cli.main(["--epochs", "2", "--verbose", "0", "--seed", seed]) == 0
        results.append(ACCURACY.search(capsys.readouterr().out).group(1, 2))
    assert results[0] == results[1]
    assert results[0] != results[2]


def test_bad_mnist_directory_in_process(tmp_path, capsys):
    assert cli.main(["--mnist", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "MNIST files not found" in captured.err


def test_corrupt_mnist_files_in_process(tmp_path, capsys):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(b"not gzip")
    assert cli.main(["--mnist", str(tmp_path)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--verbose", "3"], ["--epochs", "many"], ["--unknown"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "usage: python -m densefit" in capsys.readouterr().err


def test_main_job_on_mnist(mnist_dir):
    proc, _ = _run("--mnist", str(mnist_dir), "--verbose", "0")
    assert proc.returncode == 0, proc.stderr
    assert "MNIST, 60000 training / 10000 test samples, network 784-25-15-10, 5 epochs" in \
        proc.stdout
    accuracy = float(ACCURACY.search(proc.stdout).group(1))
    assert accuracy >= 0.95  # the README's claim; Keras reaches 95.4-95.9%
