"""`python -m harness` is `sptx`."""

import sys

from harness.cli import main

sys.exit(main())
