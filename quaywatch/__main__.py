import sys

from quaywatch.cli import main

sys.exit(main())
