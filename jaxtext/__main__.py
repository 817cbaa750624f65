import sys

from jaxtext.cli import main

sys.exit(main())
