"""What the service does each round for the network (pioniers/service.py)."""
from __future__ import annotations

from db.app import App
from network.hostlist import queue_host_lists
from network.polls import close_due_polls
from network.profiles import queue_participant_lists


def network_tasks(app: App) -> int:
    """What the service does each round for the network: close due polls, queue participant lists and the
    hosts' lists."""
    return close_due_polls(app) + queue_participant_lists(app) + queue_host_lists(app)
