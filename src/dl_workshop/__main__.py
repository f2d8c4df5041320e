"""``python -m dl_workshop``: the same as the ``dl-workshop`` command."""

import sys

from dl_workshop.cli import main

sys.exit(main())
