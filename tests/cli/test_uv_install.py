"""scripts/uv_install.py: pip's package sources, as pip would use them, handed to uv."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "uv_install.py"
spec = importlib.util.spec_from_file_location("uv_install", SCRIPT)
uv_install = importlib.util.module_from_spec(spec)
spec.loader.exec_module(uv_install)


def _options(listed: str):
    return uv_install.uv_options(uv_install.pip_settings(listed))


def test_this_machines_configuration():
    listed = ("global.cert='/etc/ssl/certs/ca-certificates.crt'\n"
              "global.constraint='/etc/xdg/pip/constraints.txt'\n"
              "global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'\n"
              "global.find-links='/opt/wheels'\n"
              ":env:.default-timeout='180'\n"
              ":env:.find-links='/opt/wheels'\n")
    args, env = _options(listed)
    assert args == ["--extra-index-url", "file:///opt/pypi/simple", "--extra-index-url", "file:///opt/pypi-more/simple",
                    "--find-links", "/opt/wheels", "--constraint", "/etc/xdg/pip/constraints.txt"]
    assert env == {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}


def test_multi_line_values_and_pips_precedence():
    """pip prints a multi-line value Python-quoted; an index-url set twice is used once, as pip would."""
    listed = ("global.index-url='https://mirror.example/simple'\n"
              "global.extra-index-url='\\nhttps://a.example/simple\\nhttps://b.example/simple'\n"
              "install.extra-index-url='https://c.example/simple'\n"
              ":env:.index-url='https://env.example/simple'\n"
              ":env:.no-index='true'\n")
    args, env = _options(listed)
    assert args == ["--index-url", "https://env.example/simple", "--extra-index-url", "https://c.example/simple",
                    "--no-index"]
    assert env == {}


def test_no_configuration_gives_no_options():
    assert _options("") == ([], {})
