"""`python -m cnndsl`: the `cnndsl` program where its console script is not installed, such as a
source checkout."""

import sys

from .cli import console

sys.exit(console())
