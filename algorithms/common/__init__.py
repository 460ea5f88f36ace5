"""Pieces shared by every learner: stacked per-agent networks, rollout storage, GAE, config, run folders, eval."""
