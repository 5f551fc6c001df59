"""``python -m queue_operator`` is the same as the ``queue-operator`` command."""

from queue_operator.cli import main

main()
