"""What `semsearch ui` runs: `python -m search_ui.server [streamlit run options] -- --store PATH
[--model PATH]`. The store and its model start loading in the background, then Streamlit serves
app.py in this process: a page opened while they load is drawn at once and shows the loading,
and one opened later finds them ready."""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.web import cli

from search_ui import loading

APP = Path(__file__).resolve().parent / "app.py"


def main() -> None:
    options = sys.argv[1:]
    app_args = options[options.index("--") + 1 :] if "--" in options else []
    loading.loader(*loading.arguments(app_args))
    # Every widget's value lives in session state (url_state, state.keep_widget_state); `value=`
    # is passed only where it means something else (a select slider is a range when given one).
    quiet = ["--global.disableWidgetStateDuplicationWarning", "true"]
    sys.argv = ["streamlit", "run", *quiet, str(APP), *options]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
