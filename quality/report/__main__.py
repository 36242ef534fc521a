"""`python -m quality.report OUT`: (re)writes OUT/report.html and prints its path."""

import sys

from quality.report.files import main

sys.exit(main())
