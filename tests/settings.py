"""The settings of the pytest process: the project's, with DEBUG on.

DEBUG is off unless asked for (project/settings.py). The in-process tests need the
development settings (plain http: no SSL redirect, no secure-only cookies, the dev key),
so this process asks for them before the settings load. Tests that start the app in a
subprocess say what they want (DEBUG=1 like `make run`, or production settings).
"""

import os

os.environ["DEBUG"] = "true"

from project.settings import *  # noqa: E402, F403
