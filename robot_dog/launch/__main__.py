"""`python -m robot_dog.launch FILE [arg:=value ...]` (the same as `robot-dog launch`)."""
import sys

from robot_dog.cli import stopping

stopping.install()  # SIGTERM during start-up takes the Ctrl-C path, as under `robot-dog`
try:
    from robot_dog.launch.cli import main
except KeyboardInterrupt:
    sys.exit(0)
sys.exit(main(sys.argv[1:]))
