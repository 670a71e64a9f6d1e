"""The dashboard's Streamlit settings live in one place, the top-level .streamlit/, and Streamlit reads them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from booking_demo.services import Ports, streamlit_command

ROOT = Path(__file__).resolve().parents[2]
_READ = (
    "import json; from streamlit import config; config.get_config_options(force_reparse=True); "
    "print(json.dumps({k: config.get_option(k) for k in"
    " ('server.headless', 'server.port', 'server.runOnSave', 'browser.gatherUsageStats', 'theme.primaryColor')}))"
)


def _options_seen_from(folder: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _READ], cwd=folder, capture_output=True, text=True, timeout=120, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_streamlit_started_at_the_top_of_the_project_reads_its_settings() -> None:
    assert _options_seen_from(ROOT) == {
        "server.headless": True,
        "server.port": 8501,
        "server.runOnSave": False,
        "browser.gatherUsageStats": False,
        "theme.primaryColor": "#1565c0",
    }


def test_streamlit_started_elsewhere_does_not_see_them(tmp_path: Path) -> None:
    assert _options_seen_from(tmp_path)["theme.primaryColor"] != "#1565c0"


def test_there_is_one_settings_folder_and_the_demo_starts_streamlit_beside_it() -> None:
    assert [p.relative_to(ROOT).as_posix() for p in (*ROOT.glob("*/.streamlit"), *ROOT.glob("src/*/.streamlit"))] == []
    command, folder = streamlit_command(ROOT / "dashboard" / "app.py", Ports(dashboard=8501, metrics=9108))
    assert (folder / ".streamlit" / "config.toml").is_file()
    assert command[-6:-4] == ["run", str(ROOT / "dashboard" / "app.py")]
