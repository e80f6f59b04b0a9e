"""``python -m morello``: the same as the ``morello`` command."""

import sys

from morello.cli import main

if __name__ == "__main__":
    sys.exit(main())
