"""`python -m robot_dog.launch FILE [arg:=value ...]` (the same as `robot-dog launch`)."""
import sys

from robot_dog.launch.cli import main

sys.exit(main(sys.argv[1:]))
