"""Every learner's typed config and its resource estimate, apart from the learner: ``algorithms.configs.<learner>``
holds ``<Learner>Config`` and ``resources(hp, spec)`` of ``algorithms.<learner>`` (which imports both back under the
same names), and ``algorithms.configs.ppo`` the PPO family's shared keys.

They live apart because the workflow resolves and validates every run's config, and sizes every job, when it builds
its DAG: these modules import neither torch nor JAX (task specs come from the stored table of ``envs``), so that costs
no torch import. Keep it so: anything that needs torch belongs in the learner module (or is imported inside the method
that needs it); ``tests/test_parse_cost.py`` fails otherwise.
"""
