import sys

from genie_lit.cli import main

sys.exit(main())
