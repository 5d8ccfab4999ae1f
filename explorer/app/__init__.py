"""The services the pages use, without Streamlit: importable and unit-testable on their own.

- `jobs`: a training job's one interface (spec, control, view) and the backend base that admits, queues and
  watches jobs; `threads`: the backend that runs jobs in worker threads of this process; `ray_backend` and
  `ray_actor`: the backend that runs them as actors on a Ray cluster; `backends`: which one a server uses;
  `continuation`: training on from a lost job's last weights; `limits`: what one server allows, from the
  environment.
- `session`: one browser session's state (its job, its runs, the current run); `runs`: a finished run and
  its downloads.
- `form_values`: the setup form's values <-> config and budget; `share`: setups as links; `points`: latent
  points as links.
- `live_charts`: the Train page's live figures for a job's view.

Imports go down only: explorer/ui imports these, these import the engine (explorer/*.py), never the other way
(explorer/app/ruff.toml and pyproject.toml enforce it).
"""
