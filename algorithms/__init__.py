"""Learners and arms. ``algorithms/registry.py`` is the one table of their names (``LEARNERS``, ``ARMS``); each
learner is a module with a typed config dataclass, a learner class, ``acting_policy``, ``resources`` and ``main``."""
