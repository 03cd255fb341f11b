"""`python -m robot_dog.cli VERB ...`: the `robot-dog` command without its console script."""
import sys

from robot_dog.cli.main import main

sys.exit(main())
