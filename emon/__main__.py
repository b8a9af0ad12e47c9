import sys

from emon.cli import main

sys.exit(main())
