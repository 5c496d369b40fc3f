import subprocess
import sys

import cnndsl


def test_alexnet_matches_torchvision(spec_dir):
    model = cnndsl.check_file(spec_dir / "alexnet.cnn")
    assert model.total_params == 61_100_840
    assert model.total_macs == 714_188_480


def test_check_does_not_import_onnx(spec_dir):
    code = (
        "import sys, cnndsl.cli; cnndsl.cli.main(['check', '-q', sys.argv[1]]); "
        "assert not any(m.split('.')[0] in ('onnx', 'onnxruntime') for m in sys.modules), "
        "[m for m in sys.modules if m.startswith('onnx')]"
    )
    subprocess.run([sys.executable, "-c", code, str(spec_dir / "alexnet.cnn")], check=True, capture_output=True)
