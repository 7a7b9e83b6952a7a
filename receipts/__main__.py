"""`python -m receipts`: the receipts CLI."""

import sys

from receipts.cli import main

sys.exit(main())
