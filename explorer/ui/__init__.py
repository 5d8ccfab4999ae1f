"""The Streamlit views' helpers: everything here imports Streamlit; the pages (pages/*.py) use them.

`state` (the session's state and the server's job backend), `form` (the setup form), `live` (the live view),
`teach` (lessons and the "now" caption), `explore` (the latent pages' shared state), `sidebar`, `presenter`,
`shell` (pages always run inside streamlit_app.py), `visuals`, `widgets`. Their logic lives below them, in
the Streamlit-free services (explorer/app) and the engine.
"""
