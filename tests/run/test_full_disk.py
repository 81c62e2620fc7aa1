"""A disk that fills mid-run: one line, a documented exit code (74), finished jobs kept, --resume finishes.

The disk is real: a 256 KB tmpfs mounted in a private mount namespace (``unshare -m``, so it vanishes
with the test and nobody else sees it), filled by a file until two job results fit. Needs the right to
mount (root, or unprivileged user namespaces); skipped with that reason where it is missing.
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_TORCH_CONFIG

pytestmark = pytest.mark.needs("torch")

ROOM_KB = 16   # the lock and pid files (a 4 KB page each) and two job results

SCRIPT = """
set -e
mount -t tmpfs -o size=256k tmpfs {disk}
avail=$(df -k --output=avail {disk} | tail -1)
head -c $(( (avail - {room}) * 1024 )) /dev/zero > {disk}/filler
set +e
{parity} run --config {cfg} --out {disk}/out > {tmp}/full.out 2> {tmp}/full.err
echo $? > {tmp}/full.rc
cp -a {disk}/out {tmp}/after-full
rm {disk}/filler
{parity} run --config {cfg} --out {disk}/out --resume > {tmp}/resumed.out 2> {tmp}/resumed.err
echo $? > {tmp}/resumed.rc
cp -a {disk}/out {tmp}/after-resume
"""


def _unshare() -> list[str]:
    """A private mount namespace (as root; otherwise inside a user namespace of one's own)."""
    return ["unshare", "-m"] + ([] if os.geteuid() == 0 else ["--map-root-user"])


def _cannot_mount(folder: Path) -> str | None:
    if shutil.which("unshare") is None:
        return "no unshare(1) on this machine"
    probe = subprocess.run(_unshare() + ["sh", "-c", f"mount -t tmpfs tmpfs {folder}"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"cannot mount a tmpfs here: {probe.stderr.strip()}"


@pytest.mark.system
def test_a_disk_that_fills_mid_run_stops_it_and_resume_finishes(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    why = _cannot_mount(disk)
    if why:
        pytest.skip(why)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_TORCH_CONFIG.format(seeds="[0, 1, 2, 3]", frameworks='["torch"]'))
    parity = f"{shlex.quote(sys.executable)} -m parity.cli"
    script = SCRIPT.format(disk=disk, room=ROOM_KB, parity=parity, cfg=cfg, tmp=tmp_path)
    subprocess.run(_unshare() + ["bash", "-c", script], check=True, timeout=900, cwd=Path(__file__).parents[2])

    code = int((tmp_path / "full.rc").read_text())
    err = (tmp_path / "full.err").read_text().strip().splitlines()
    kept = {p.name: p.read_bytes() for p in (tmp_path / "after-full" / "jobs").glob("*.json")}
    print(f"\nfull disk: exit {code}, {len(kept)} of 4 jobs kept; last line: {err[-1] if err else ''}")
    assert code == 74, err
    assert "Traceback" not in "\n".join(err)
    assert "No space left on device" in err[-1] and "--resume" in err[-1], err[-1]
    assert not any(line.startswith("parity:") for line in err[:-1]), err   # one line says it
    assert 1 <= len(kept) < 4
    assert all(json.loads(b)["status"] == "ok" for b in kept.values())   # no job recorded as failed by the disk
    assert not list((tmp_path / "after-full" / "jobs").glob(".tmp-*"))

    assert int((tmp_path / "resumed.rc").read_text()) == 0, (tmp_path / "resumed.err").read_text()
    assert f"{len(kept)} already done, {4 - len(kept)} to run" in (tmp_path / "resumed.err").read_text()
    done = {p.name: p.read_bytes() for p in (tmp_path / "after-resume" / "jobs").glob("*.json")}
    assert len(done) == 4 and all(json.loads(b)["status"] == "ok" for b in done.values())
    assert all(done[name] == data for name, data in kept.items())   # the kept results are byte-identical
