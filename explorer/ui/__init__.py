"""Streamlit helpers shared by the pages (the engine in explorer/ never imports these).

Plain modules, testable without a running Streamlit: `jobs` (training jobs and the process-wide
registry with its queue), `runs` (finished runs and their downloads), `setup` (form values <-> config),
`share` (query parameters <-> config, quick starts).
Streamlit modules: `state` (session state, the cached registry), `form` (the setup form), `live` (the
live view), `sidebar`, `shell` (pages always run inside streamlit_app.py), `visuals`, `widgets`.
"""
