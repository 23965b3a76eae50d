"""Two processes, one folder (issue [4/5], items 1 and 2): one writer at a time, nothing
written twice, nothing lost.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mggnet_lite.data.synthfaces import tree_hash
from mggnet_lite.files import FolderBusyError, FolderLock

RENDER = textwrap.dedent("""
    import sys, time
    import mggnet_lite.data.synthfaces.writer as w
    rendered = [0]
    real = w._write_chunk
    def counting(job):
        rendered[0] += len(job[2])
        return real(job)
    w._write_chunk = counting
    if __name__ == "__main__":
        t0 = time.monotonic()
        w.synthesize(sys.argv[1], n=int(sys.argv[2]), seed=0, workers=1, progress=False)
        print(f"RENDERED {rendered[0]} in {time.monotonic() - t0:.1f} s", flush=True)
""")


def test_two_synthfaces_renders_into_one_folder_render_once(tmp_path: Path) -> None:
    script = tmp_path / "render.py"
    script.write_text(RENDER)
    out, n = tmp_path / "faces", 120
    procs = [subprocess.Popen([sys.executable, str(script), str(out), str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    counts = sorted(int(o.split("RENDERED ")[1].split()[0]) for o, _ in outs)
    assert counts == [0, n], outs  # one rendered everything, the other reused it
    waited = [o for o, _ in outs if "waiting for pid" in o]
    assert len(waited) == 1 and "rendering SynthFaces" in waited[0]
    alone = tmp_path / "alone"
    subprocess.run([sys.executable, str(script), str(alone), str(n)], check=True,
                   capture_output=True, timeout=300)
    assert tree_hash(out) == tree_hash(alone)


def test_folder_lock_refuses_at_once_naming_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / ".run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom mggnet_lite.files import FolderLock\n"
         f"FolderLock({str(lock)!r}, what='training').acquire()\nprint('held', flush=True)\n"
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with pytest.raises(FolderBusyError) as err:
            FolderLock(lock, what="training").acquire(wait=False)
        assert time.monotonic() - t0 < 5
        assert str(holder.pid) in str(err.value) and str(tmp_path) in str(err.value)
    finally:
        holder.kill()  # a SIGKILL: the kernel releases the lock
        holder.wait()
    FolderLock(lock).acquire(wait=False).release()  # no stale lock


# ----------------------------------------------------------------------------- training

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import REPO, env, synth_root, train_cmd  # noqa: E402


def _epochs(run: Path) -> list[int]:
    import json

    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_cli_trainings_into_one_folder(tmp_path: Path) -> None:
    """The second trainer is refused while the first holds the folder (frozen with SIGSTOP
    mid-run, so that the test does not race it), naming the folder and the holder; the
    first then finishes its whole run."""
    import signal

    data, out = synth_root(), tmp_path / "run"
    cmd = train_cmd(data, out, "--variant", "baseline", "--epochs", "2", "1")
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env(), cwd=REPO)
    lock = out / ".lock"
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the first one holds the folder
    first.send_signal(signal.SIGSTOP)
    try:
        assert not (out / "results.json").exists()  # frozen before the end of its run
        second = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=REPO,
                                timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
    _, err1 = first.communicate(timeout=600)
    assert first.returncode == 0, err1
    assert second.returncode == 2, second.stderr
    assert str(out) in second.stderr and f"pid {first.pid}" in second.stderr
    assert _epochs(out) == [1, 2, 3]


def test_sigkill_after_the_first_checkpoint_then_resume(tmp_path: Path) -> None:
    import json
    import signal

    from mggnet_lite.training.checkpoint import load_checkpoint

    data, out = synth_root(), tmp_path / "run"
    cmd = train_cmd(data, out, "--variant", "baseline", "--epochs", "2", "1")
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env(), cwd=REPO)
    deadline = time.monotonic() + 300
    while (not (out / "last.pt").is_file() and child.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)  # no handler runs: the kernel drops the lock
    _, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, err  # killed mid-run, not finished before
    # what the kill left: the first epochs' checkpoint, no results, not every epoch logged
    position = load_checkpoint(out / "last.pt")["position"]
    assert 1 <= position["epoch"] < 3, f"the checkpoint is not of a partial run: {position}"
    assert not (out / "results.json").exists()
    logged = _epochs(out) if (out / "metrics.jsonl").is_file() else []
    assert len(logged) < 3, logged
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=env(),
                             cwd=REPO, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert _epochs(out) == [1, 2, 3]
    res = json.loads((out / "results.json").read_text())
    assert res["time_s"]["resumed"] and [h["epoch"] for h in res["history"]] == [1, 2, 3]


#: what a chapter does in its kernel: one cell, run by a real Jupyter kernel (nbclient),
#: whose output the driver prints; the cell saves the weights it got for comparison
BOOK_CELL = """
import time, torch
from mggnet_lite import book
t0 = time.monotonic()
model, report = book.trained_model("baseline")
torch.save(model.state_dict(), {out!r})
print(f"DONE {{time.monotonic() - t0:.1f}}", flush=True)
"""
KERNEL = textwrap.dedent("""
    import sys
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(sys.argv[1])])
    NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    for out in nb.cells[0].outputs:
        print(out.get("text", ""), end="")
""")


def test_two_book_kernels_train_once_and_share_the_weights(tmp_path: Path) -> None:
    """Two Jupyter kernels run the same chapter cell at once, on a fresh machine (no cache,
    no stage 1, no run): one renders nothing twice, builds the cache and both stages once;
    the other waits for it, then loads what it trained."""
    script = tmp_path / "kernel.py"
    script.write_text(KERNEL)
    # 300 images: the quick profile's stage 2 takes batches of 128 (its train split has 240).
    # A copy without its cache: another test of this session (on this pytest worker) may have
    # built the shared set's cache already, and here the cache build happens in a kernel.
    data = tmp_path / "set"
    shutil.copytree(synth_root(300), data, ignore=shutil.ignore_patterns(".mggnet_cache"))
    assert not (data / ".mggnet_cache").exists()
    e = dict(env(), MGGNET_DATA=str(data), MGGNET_BOOK_RUNS=str(tmp_path / "runs"),
             MGGNET_BOOK_MAX_STEPS="2", MGGNET_PROFILE="quick")
    procs = [subprocess.Popen([sys.executable, str(script),
                               BOOK_CELL.format(out=str(tmp_path / f"w{k}.pt"))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                              cwd=tmp_path) for k in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    logs = [o for o, _ in outs]
    assert sum("training baseline" in o for o in logs) == 1, logs
    assert sum("training the pretrained backbone" in o for o in logs) == 1, logs
    waiter = next(o for o in logs if "training baseline" not in o)
    assert "waiting for pid" in waiter and "loaded baseline" in waiter, waiter
    import torch

    a, b = (torch.load(tmp_path / f"w{k}.pt", weights_only=True) for k in range(2))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (data / ".mggnet_cache").is_dir()
