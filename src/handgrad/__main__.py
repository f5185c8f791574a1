"""``python -m handgrad``: the command line."""

import signal
import sys

from .cli import main

# The package's import ran under a quiet Ctrl-C handler (handgrad._quiet_ctrl_c_while_python_m_imports);
# from here on Python's own, a KeyboardInterrupt that the command line turns into one line.
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.exit(main())
