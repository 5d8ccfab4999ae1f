"""GAN Explorer: `streamlit run streamlit_app.py`. The pages live in pages/, their logic in explorer/.

This file has two roles. Streamlit's `run` command imports it and serves `app`, whose lifespan checks the server's
settings and warms it before anyone is answered (explorer/ui/server.py). Every session then runs it as its script
(`__main__`): the navigation over the pages and the sidebar they share.
"""

import streamlit as st

from explorer.ui import server

if __name__ != "__main__":  # imported by `streamlit run` (or an ASGI server): the server
    app = st.App(__file__, lifespan=server.lifespan)

else:  # a session's run
    from explorer.ui import presenter, sidebar

    st.set_page_config(page_title="GAN Explorer", page_icon="✏️", layout="wide",
                       initial_sidebar_state=presenter.sidebar_state())

    page = st.navigation([
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
        st.Page("pages/latent.py", title="Latent space", icon=":material/grid_view:", url_path="latent"),
        st.Page("pages/interpolation.py", title="Interpolation", icon=":material/linear_scale:",
                url_path="interpolation"),
        st.Page("pages/runs.py", title="Runs", icon=":material/folder_open:", url_path="runs"),
        st.Page("pages/sweep.py", title="Sweep", icon=":material/tune:", url_path="sweep"),
        st.Page("pages/board.py", title="Class board", icon=":material/leaderboard:", url_path="board"),
    ])
    sidebar.show(page.url_path, poll_job=page.url_path != "train")
    page.run()
