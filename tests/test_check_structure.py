"""scripts/check_structure.py: the file-size and sudo-reason rules of the lint step."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "check_structure", ROOT / "scripts/check_structure.py"
)
check_structure = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_structure)


def make_addon(tmp_path, files):
    addon = tmp_path / "crm_mail_channel_x"
    (addon / "models").mkdir(parents=True)
    (addon / "__manifest__.py").write_text("{}\n")
    for name, text in files.items():
        path = addon / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def run(tmp_path, capsys, files):
    status = check_structure.main(["check", str(make_addon(tmp_path, files))])
    return status, capsys.readouterr().out


def test_sudo_needs_a_reason_on_the_line_or_in_the_comment_above(tmp_path, capsys):
    source = (
        "a = self.sudo()  # sudo: public data\n"  # 1: ok
        "# sudo: the caller checked the owner\n"
        "b = self.sudo()\n"  # 3: ok
        "# sudo: wrapped reason that goes on\n"
        "# over two lines\n"
        "c = self.sudo()\n"  # 6: ok
        "d = self.sudo()\n"  # 7: no reason
        "e = self.sudo()  # sudo:\n"  # 8: empty reason
        "# a comment that says sudo() is needed\n"
        "f = 'self.sudo()'\n"  # 10: in a string, not a call
    )
    status, out = run(tmp_path, capsys, {"models/m.py": source})
    assert status == 1
    assert "crm_mail_channel_x/models/m.py:7: sudo() without" in out
    assert "crm_mail_channel_x/models/m.py:8: sudo() comment without a reason" in out
    assert out.count("m.py:") == 2


def test_tests_may_call_sudo_and_long_files_outside_models_pass(tmp_path, capsys):
    files = {"tests/test_x.py": "x = self.sudo()\n", "controllers/c.py": "x = 1\n" * 500}
    status, out = run(tmp_path, capsys, files)
    assert status == 0, out


def test_model_and_wizard_files_over_400_lines_fail(tmp_path, capsys):
    files = {"models/big.py": "x = 1\n" * 401, "wizard/ok.py": "x = 1\n" * 400}
    status, out = run(tmp_path, capsys, files)
    assert status == 1
    assert "crm_mail_channel_x/models/big.py:401: 401 lines, more than 400" in out
    assert "ok.py" not in out
