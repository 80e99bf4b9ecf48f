import sys

from pytest_modelgate.cli.main import main

sys.exit(main())
