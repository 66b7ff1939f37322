import sys

from dashboard.web.cli import main

sys.exit(main())
